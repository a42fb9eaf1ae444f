//! `/v1/agent/checks` (with `filter`), check register and deregister, and the TTL updates
//! (`/v1/agent/check/{pass,warn,fail,update}/:id`), as Consul's `agent_endpoint.go` serves
//! them.

use crate::agent_service::done;
use crate::backend::Backend;
use crate::decode::json_body;
use crate::error::ApiError;
use crate::filter::records;
use crate::local::{LocalAgent, Source};
use crate::options::refuse_enterprise;
use crate::reply;
use crate::router::{Api, Incoming};
use crate::types::{AgentCheckBody, CheckUpdateBody, HealthCheck};
use axum::response::Response;
use legate_catalog::Health;
use std::collections::BTreeMap;

/// `GET /v1/agent/checks`: check ID → check, with its current status and output.
pub async fn list<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let matcher = options.filter_for(&records::HEALTH_CHECK)?;
    let mut checks: BTreeMap<String, HealthCheck> = api
        .backend
        .local()
        .checks()
        .iter()
        .map(|check| (check.id.to_string(), HealthCheck::from(check)))
        .collect();
    if let Some(matcher) = matcher {
        matcher.retain_values(&mut checks);
    }
    Ok(reply::json(&checks, options.pretty))
}

/// `PUT /v1/agent/check/register`.
pub async fn register<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    refuse_enterprise(&request.params, &request.headers)?;
    let bytes = api.json_body(request).await?;
    let body: AgentCheckBody = json_body(&bytes)?;
    let spec = body.into_spec()?;
    api.backend
        .local()
        .register_check(spec, Source::Api)
        .await?;
    Ok(done())
}

/// `PUT /v1/agent/check/deregister/:id`: 200 also for an unknown check.
pub async fn deregister<B: Backend>(
    api: &Api<B>,
    id: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    refuse_enterprise(&request.params, &request.headers)?;
    api.backend.local().deregister_check(id.into()).await?;
    Ok(done())
}

/// `PUT /v1/agent/check/{pass,warn,fail}/:id?note=`: the note becomes the output.
pub async fn mark<B: Backend>(
    api: &Api<B>,
    id: String,
    status: Health,
    request: Incoming,
) -> Result<Response, ApiError> {
    refuse_enterprise(&request.params, &request.headers)?;
    let note = request.params.get("note").unwrap_or("").to_owned();
    api.backend
        .local()
        .update_ttl(id.into(), status, note)
        .await?;
    Ok(done())
}

/// `PUT /v1/agent/check/update/:id` with `{"Status","Output"}`.
pub async fn update<B: Backend>(
    api: &Api<B>,
    id: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    refuse_enterprise(&request.params, &request.headers)?;
    let bytes = api.json_body(request).await?;
    let body: CheckUpdateBody = json_body(&bytes)?;
    let text = body.status.unwrap_or_default();
    let status = Health::parse(&text)
        .ok_or_else(|| ApiError::BadRequest(format!("Invalid check status: '{text}'")))?;
    api.backend
        .local()
        .update_ttl(id.into(), status, body.output.unwrap_or_default())
        .await?;
    Ok(done())
}
