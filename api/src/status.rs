//! `/v1/status/leader` and `/v1/status/peers`: the Raft view, widely used as health probes.

use crate::backend::{Backend, RaftStatus};
use crate::error::ApiError;
use crate::options::remote_datacenter;
use crate::reply;
use crate::router::{Api, Incoming};
use axum::response::Response;

/// The Raft view. Like Consul, status endpoints answer without the read headers: they come
/// from no indexed query, and a made-up index would invite clients to block on it.
async fn raft_view<B: Backend>(
    api: &Api<B>,
    request: Incoming,
) -> Result<(RaftStatus, bool), ApiError> {
    let options = api.options(&request)?;
    drop(request);
    let local = api.info().datacenter;
    let target = remote_datacenter(options.datacenter.as_ref(), &local);
    let status = api.backend.raft_status(target).await?;
    Ok((status, options.pretty))
}

/// `GET /v1/status/leader`: `"10.0.0.1:8300"`, or `""` without a leader.
pub async fn leader<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let (status, pretty) = raft_view(api, request).await?;
    let leader = status.leader.unwrap_or_default();
    Ok(reply::json(&leader, pretty))
}

/// `GET /v1/status/peers`: the voters' server addresses.
pub async fn peers<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let (status, pretty) = raft_view(api, request).await?;
    Ok(reply::json(&status.peers, pretty))
}
