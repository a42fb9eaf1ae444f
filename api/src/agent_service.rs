//! `/v1/agent/services` (with `filter`), `/v1/agent/service/:id` (with hash blocking), and service register
//! and deregister: the services this agent owns, as Consul's `agent_endpoint.go` serves them.
//!
//! Agent endpoints answer from the agent's local state, without read headers; writes answer
//! 200 with an empty body once the change is persisted and synced (see `local`).

use crate::backend::Backend;
use crate::decode::json_body;
use crate::duration;
use crate::error::ApiError;
use crate::filter::records;
use crate::local::{LocalAgent, Source};
use crate::options::{blocking_wait, refuse_enterprise};
use crate::params::Params;
use crate::reply;
use crate::router::{Api, Incoming};
use crate::types::{AgentService, AgentServiceBody};
use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::Response;
use std::collections::BTreeMap;
use std::time::Duration;

/// An agent write's answer: 200 with no body, as Consul gives for a nil result.
pub fn done() -> Response {
    Response::new(Body::empty())
}

/// `?flag`, `?flag=` and `?flag=true` are true, as Consul reads `replace-existing-checks`.
fn flag(params: &Params, name: &str) -> bool {
    matches!(params.get(name), Some("" | "true"))
}

/// `GET /v1/agent/services`: ID → service.
pub async fn list<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let matcher = options.filter_for(&records::AGENT_SERVICE)?;
    let dc = api.info().datacenter.to_string();
    let mut services: BTreeMap<String, AgentService> = api
        .backend
        .local()
        .services()
        .iter()
        .map(|service| {
            (
                service.id.to_string(),
                AgentService::from_record(service, &dc),
            )
        })
        .collect();
    if let Some(matcher) = matcher {
        matcher.retain_values(&mut services);
    }
    Ok(reply::json(&services, options.pretty))
}

/// FNV-1a over the answer's JSON: a stable content hash for hash blocking.
fn content_hash(service: &AgentService) -> String {
    let bytes = serde_json::to_vec(service).unwrap_or_default();
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// How long a hash-blocking read may wait: `wait` capped, or the default, plus jitter.
fn hash_wait<B: Backend>(api: &Api<B>, params: &Params) -> Result<Duration, ApiError> {
    let nanos = match params.non_empty("wait") {
        Some(text) => {
            duration::parse(text).map_err(|_| ApiError::BadRequest("Invalid wait time".into()))?
        }
        None => 0,
    };
    Ok(blocking_wait(nanos, &api.config, &mut rand::thread_rng()))
}

/// `GET /v1/agent/service/:id[?hash=..&wait=..]`: one service with its `ContentHash`. With
/// `hash`, the answer waits until the service's hash differs from it or `wait` passes.
pub async fn one<B: Backend>(
    api: &Api<B>,
    id: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let known_hash = request.params.non_empty("hash").map(str::to_owned);
    let deadline = match &known_hash {
        Some(_) => Some(tokio::time::Instant::now() + hash_wait(api, &request.params)?),
        None => None,
    };
    let dc = api.info().datacenter.to_string();
    let local = api.backend.local();
    let mut changes = local.changes();
    loop {
        // Marked seen before reading, so a change during the read wakes the next wait.
        changes.borrow_and_update();
        let service = local
            .services()
            .into_iter()
            .find(|service| service.id.as_str() == id)
            .ok_or_else(|| ApiError::NotFound(format!("unknown service ID: {id}")))?;
        let mut answer = AgentService::from_record(&service, &dc);
        answer.content_hash = content_hash(&answer);
        let unchanged = known_hash.as_deref() == Some(answer.content_hash.as_str());
        if unchanged {
            if let Some(deadline) = deadline {
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_ok() {
                            continue;
                        }
                    }
                    () = tokio::time::sleep_until(deadline) => {}
                }
            }
        }
        let mut response = reply::json(&answer, options.pretty);
        if let Ok(value) = HeaderValue::from_str(&answer.content_hash) {
            response.headers_mut().insert("X-Consul-ContentHash", value);
        }
        return Ok(response);
    }
}

/// `PUT /v1/agent/service/register[?replace-existing-checks]`.
pub async fn register<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    refuse_enterprise(&request.params, &request.headers)?;
    let replace = flag(&request.params, "replace-existing-checks");
    let bytes = api.json_body(request).await?;
    let body: AgentServiceBody = json_body(&bytes)?;
    let spec = body.into_spec()?;
    api.backend
        .local()
        .register_service(spec, replace, Source::Api)
        .await?;
    Ok(done())
}

/// `PUT /v1/agent/service/deregister/:id`: 200 also for an unknown service.
pub async fn deregister<B: Backend>(
    api: &Api<B>,
    id: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    refuse_enterprise(&request.params, &request.headers)?;
    api.backend.local().deregister_service(id.into()).await?;
    Ok(done())
}
