//! `/v1/operator/raft/*`: the Raft configuration, removing a peer, and handing leadership
//! to another server.

use crate::agent_service::done;
use crate::backend::{Backend, PeerSelector};
use crate::error::ApiError;
use crate::reply;
use crate::router::{Api, Incoming};
use crate::types::{RaftConfiguration, TransferLeaderResponse};
use axum::response::Response;

/// `GET /v1/operator/raft/configuration[?stale][&dc=]`. Like Consul, it answers without the
/// read headers: the configuration comes from no blocking query.
pub async fn configuration<B: Backend>(
    api: &Api<B>,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let local = api.info().datacenter;
    let configuration = api
        .backend
        .raft_configuration(options.read_options(&local))
        .await?;
    Ok(reply::json(
        &RaftConfiguration::from(&configuration),
        options.pretty,
    ))
}

/// Exactly one of `?id=` and `?address=` (present, even empty), with Consul's texts.
fn peer_selector(request: &Incoming) -> Result<PeerSelector, ApiError> {
    let id = request.params.get("id");
    let address = request.params.get("address");
    match (id, address) {
        (Some(id), None) => Ok(PeerSelector::Id(id.to_owned())),
        (None, Some(address)) => Ok(PeerSelector::Address(address.to_owned())),
        (None, None) => Err(ApiError::BadRequest(
            "Must specify either ?id with the server's ID or ?address with IP:port of peer to \
             remove"
                .into(),
        )),
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "Must specify only one of ?id or ?address".into(),
        )),
    }
}

/// `DELETE /v1/operator/raft/peer?id=|address=`: 200 with an empty body.
pub async fn remove_peer<B: Backend>(
    api: &Api<B>,
    request: Incoming,
) -> Result<Response, ApiError> {
    api.require_local_datacenter(&request.params)?;
    let selector = peer_selector(&request)?;
    api.backend.raft_remove_peer(selector).await?;
    Ok(done())
}

/// `POST /v1/operator/raft/transfer-leader[?id=]`: `{"Success":true}`. An empty `id` means
/// any other voter, as in Consul.
pub async fn transfer_leader<B: Backend>(
    api: &Api<B>,
    request: Incoming,
) -> Result<Response, ApiError> {
    let pretty = crate::options::pretty(&request.params, &api.config);
    crate::options::refuse_enterprise(&request.params, &request.headers)?;
    let id = request.params.non_empty("id").map(str::to_owned);
    api.backend.raft_transfer_leader(id).await?;
    Ok(reply::json(
        &TransferLeaderResponse { success: true },
        pretty,
    ))
}
