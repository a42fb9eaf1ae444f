//! `/v1/agent/maintenance` and `/v1/agent/service/maintenance/:id`: maintenance mode, a
//! critical check that takes the node or one service out of DNS and `?passing` answers.

use crate::agent_service::done;
use crate::backend::Backend;
use crate::error::ApiError;
use crate::local::LocalAgent;
use crate::options::refuse_enterprise;
use crate::params::Params;
use crate::router::{Api, Incoming};
use axum::response::Response;

/// `?enable=` read as Go's `strconv.ParseBool`, with Consul's texts.
fn enable(params: &Params) -> Result<bool, ApiError> {
    match params.get("enable") {
        None => Err(ApiError::BadRequest("Missing value for enable".into())),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "Invalid value for enable: {other:?}"
        ))),
    }
}

fn reason(params: &Params) -> String {
    params.get("reason").unwrap_or("").to_owned()
}

/// `PUT /v1/agent/service/maintenance/:id?enable=&reason=`.
pub async fn service<B: Backend>(
    api: &Api<B>,
    id: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    if id.is_empty() {
        return Err(ApiError::BadRequest("Missing service ID".into()));
    }
    let enable = enable(&request.params)?;
    refuse_enterprise(&request.params, &request.headers)?;
    api.backend
        .local()
        .service_maintenance(id.into(), enable, reason(&request.params))
        .await?;
    Ok(done())
}

/// `PUT /v1/agent/maintenance?enable=&reason=`.
pub async fn node<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let enable = enable(&request.params)?;
    api.backend
        .local()
        .node_maintenance(enable, reason(&request.params))
        .await?;
    Ok(done())
}
