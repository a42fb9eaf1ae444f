//! `/v1/operator/autopilot/*`: autopilot's configuration (read, and set with an optional
//! check-and-set), the servers' health (429 when unhealthy) and autopilot's state.

use crate::backend::Backend;
use crate::decode::json_body;
use crate::error::ApiError;
use crate::reply;
use crate::router::{Api, Incoming};
use crate::types::OperatorHealthReply;
use crate::types::{AutopilotConfigBody, AutopilotConfiguration, AutopilotState};
use axum::http::{Method, StatusCode};
use axum::response::Response;

/// `GET|PUT /v1/operator/autopilot/configuration`.
pub async fn configuration<B: Backend>(
    api: &Api<B>,
    request: Incoming,
) -> Result<Response, ApiError> {
    if request.method == Method::PUT {
        return set_configuration(api, request).await;
    }
    let options = api.options(&request)?;
    api.require_local_datacenter(&request.params)?;
    let config = api.backend.autopilot_configuration().await?;
    Ok(reply::json(
        &AutopilotConfiguration::from(&config),
        options.pretty,
    ))
}

/// `PUT /v1/operator/autopilot/configuration[?cas=]`: `true`, or `false` when the `cas`
/// index no longer matches. Without `cas` Consul answers `true` whatever the store says.
async fn set_configuration<B: Backend>(
    api: &Api<B>,
    request: Incoming,
) -> Result<Response, ApiError> {
    api.require_local_datacenter(&request.params)?;
    let pretty = crate::options::pretty(&request.params, &api.config);
    let cas = match request.params.get("cas") {
        None => None,
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "Error parsing cas value: strconv.ParseUint: parsing {text:?}: invalid syntax"
            ))
        })?),
    };
    let bytes = api.json_body(request).await?;
    let body: AutopilotConfigBody = json_body(&bytes).map_err(|error| {
        ApiError::BadRequest(format!("Error parsing autopilot config: {}", error.0))
    })?;
    let applied = api
        .backend
        .set_autopilot_configuration(body.config(), cas)
        .await?;
    Ok(reply::json(&(applied || cas.is_none()), pretty))
}

/// `GET /v1/operator/autopilot/health`: 200 when every server is healthy, else 429 with the
/// same body (clients such as load-balancer probes read only the status).
pub async fn health<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    api.require_local_datacenter(&request.params)?;
    let health = api.backend.autopilot_health().await?;
    let mut response = reply::json(&OperatorHealthReply::from(&health), options.pretty);
    if !health.healthy {
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    }
    Ok(response)
}

/// `GET /v1/operator/autopilot/state`.
pub async fn state<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    api.require_local_datacenter(&request.params)?;
    let state = api.backend.autopilot_state().await?;
    Ok(reply::json(&AutopilotState::from(&state), options.pretty))
}
