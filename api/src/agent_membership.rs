//! `/v1/agent/join/:address`, `/v1/agent/leave` and `/v1/agent/force-leave/:node`: this
//! agent's membership of the gossip pools. Each answers 200 with an empty body, or a
//! plain-text 500 with the backend's reason, as Consul does.

use crate::agent_service::done;
use crate::backend::Backend;
use crate::error::ApiError;
use crate::options::refuse_enterprise;
use crate::router::{Api, Incoming};
use axum::response::Response;

/// `PUT /v1/agent/join/:address[?wan=1]`. Consul reads `wan` as true only with a value
/// (the Go client sends `wan=1`), so a bare `?wan` joins the LAN pool, as there.
pub async fn join<B: Backend>(
    api: &Api<B>,
    address: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    refuse_enterprise(&request.params, &request.headers)?;
    let wan = request.params.non_empty("wan").is_some();
    api.backend.join(address, wan).await?;
    Ok(done())
}

/// `PUT /v1/agent/leave`: a graceful leave, after which the agent shuts down.
pub async fn leave<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    drop(request);
    api.backend.leave().await?;
    Ok(done())
}

/// `PUT /v1/agent/force-leave/:node[?prune][&wan]`; both flags are presence-based.
pub async fn force_leave<B: Backend>(
    api: &Api<B>,
    node: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    refuse_enterprise(&request.params, &request.headers)?;
    let prune = request.params.has("prune");
    let wan = request.params.has("wan");
    api.backend.force_leave(node, prune, wan).await?;
    Ok(done())
}
