//! `/v1/agent/self` and `/v1/agent/members`: this agent and the gossip pool as it sees it.

use crate::backend::{self, Backend};
use crate::error::ApiError;
use crate::reply;
use crate::router::{Api, Incoming};
use crate::types::{AgentSelf, Member};
use axum::response::Response;

/// `GET /v1/agent/self`.
pub async fn self_info<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let info = api.info();
    // This agent's own member record, or one made from its identity while gossip has not
    // reported it yet.
    let member = api
        .backend
        .members(false)
        .into_iter()
        .find(|member| member.name == info.node_name)
        .unwrap_or_else(|| backend::Member {
            name: info.node_name.clone(),
            addr: info.advertise_addr.clone(),
            port: info.serf_lan_port,
            tags: Default::default(),
            status: 1,
        });
    let stats = api.backend.agent_stats().await;
    let coord = api.backend.coordinate();
    let answer = AgentSelf::new(&info, Member::from(&member), stats).with_coord(coord.as_ref());
    // Like Consul, agent endpoints answer without the read headers: they come from no
    // indexed query, and a made-up index would invite clients to block on it.
    Ok(reply::json(&answer, options.pretty))
}

/// Consul's `api.AllSegments`: what `consul members` sends to ask for every segment.
const ALL_SEGMENTS: &str = "_all";

/// `GET /v1/agent/members[?wan=1][&segment=]`. As in Consul, `wan` counts only with a value
/// (the Go client sends `wan=1`); `segment` (an Enterprise feature) is accepted and ignored,
/// except that a named segment with `wan` is refused.
pub async fn members<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let wan = request.params.non_empty("wan").is_some();
    if wan
        && !matches!(
            request.params.get("segment"),
            None | Some("" | ALL_SEGMENTS)
        )
    {
        return Err(ApiError::BadRequest(
            "Cannot provide a segment with wan=true".into(),
        ));
    }
    let members: Vec<Member> = api.backend.members(wan).iter().map(Member::from).collect();
    Ok(reply::json(&members, options.pretty))
}
