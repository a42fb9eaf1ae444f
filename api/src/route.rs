//! `Endpoint`: a request path parsed into the endpoint it names.
//!
//! Paths match as in Consul's mux: exact paths (`/v1/catalog/nodes`) and prefixes whose
//! remainder is an argument (`/v1/catalog/service/<name>`, where the name may contain `/`).
//! The path is percent-decoded first, as Go's `URL.Path` is.

use axum::http::Method;

/// An endpoint of the API, with its path argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/`: the index page.
    Index,
    /// `/v1/kv/<key>` (the key as it appears in the path, possibly empty).
    Kv(String),
    CatalogRegister,
    CatalogDeregister,
    CatalogDatacenters,
    CatalogNodes,
    CatalogServices,
    CatalogService(String),
    /// `/v1/catalog/connect/<service>`.
    CatalogConnect(String),
    CatalogNode(String),
    HealthService(String),
    /// `/v1/health/connect/<service>`.
    HealthConnect(String),
    HealthChecks(String),
    HealthNode(String),
    HealthState(String),
    StatusLeader,
    StatusPeers,
    AgentSelf,
    AgentMembers,
    AgentServices,
    AgentService(String),
    AgentServiceRegister,
    AgentServiceDeregister(String),
    AgentServiceMaintenance(String),
    AgentMaintenance,
    AgentChecks,
    AgentCheckRegister,
    AgentCheckDeregister(String),
    AgentCheckPass(String),
    AgentCheckWarn(String),
    AgentCheckFail(String),
    AgentCheckUpdate(String),
    AgentHealthServiceId(String),
    AgentHealthServiceName(String),
    /// `/v1/agent/join/<address>`.
    AgentJoin(String),
    AgentLeave,
    /// `/v1/agent/force-leave/<node>`.
    AgentForceLeave(String),
    OperatorRaftConfiguration,
    OperatorRaftPeer,
    OperatorRaftTransferLeader,
    OperatorAutopilotConfiguration,
    OperatorAutopilotHealth,
    OperatorAutopilotState,
    OperatorKeyring,
    SessionCreate,
    SessionDestroy(String),
    SessionRenew(String),
    SessionInfo(String),
    SessionNode(String),
    SessionList,
    Txn,
    /// `/v1/event/fire/<name>`.
    EventFire(String),
    EventList,
    /// `/v1/agent/metrics`.
    AgentMetrics,
    CoordinateDatacenters,
    CoordinateNodes,
    /// `/v1/coordinate/node/<node>`.
    CoordinateNode(String),
    CoordinateUpdate,
    /// `/v1/query`: list (GET) and create (POST).
    Query,
    /// `/v1/legate/openapi.json`: the OpenAPI description of this API (Legate's own).
    OpenApi,
    /// `/v1/query/<rest>`: one query, its `execute` or its `explain`; the handler checks
    /// methods, which depend on the rest (Consul registers it without a method list).
    QueryItem(String),
}

const READ: &[Method] = &[Method::GET];
const WRITE: &[Method] = &[Method::PUT];
const KV: &[Method] = &[Method::GET, Method::PUT, Method::DELETE];
const REMOVE: &[Method] = &[Method::DELETE];
const ACTION: &[Method] = &[Method::POST];
const READ_WRITE: &[Method] = &[Method::GET, Method::PUT];
const QUERY: &[Method] = &[Method::GET, Method::POST];
/// The keyring's methods name its operations: list, install, use, remove.
const KEYRING: &[Method] = &[Method::GET, Method::POST, Method::PUT, Method::DELETE];

/// Exact paths (also the patterns `http_timing` labels requests with).
pub(crate) const EXACT: &[(&str, Endpoint)] = &[
    ("/v1/catalog/register", Endpoint::CatalogRegister),
    ("/v1/catalog/deregister", Endpoint::CatalogDeregister),
    ("/v1/catalog/datacenters", Endpoint::CatalogDatacenters),
    ("/v1/catalog/nodes", Endpoint::CatalogNodes),
    ("/v1/catalog/services", Endpoint::CatalogServices),
    ("/v1/status/leader", Endpoint::StatusLeader),
    ("/v1/status/peers", Endpoint::StatusPeers),
    ("/v1/agent/self", Endpoint::AgentSelf),
    ("/v1/agent/members", Endpoint::AgentMembers),
    ("/v1/agent/services", Endpoint::AgentServices),
    ("/v1/agent/service/register", Endpoint::AgentServiceRegister),
    ("/v1/agent/maintenance", Endpoint::AgentMaintenance),
    ("/v1/agent/checks", Endpoint::AgentChecks),
    ("/v1/agent/check/register", Endpoint::AgentCheckRegister),
    ("/v1/agent/leave", Endpoint::AgentLeave),
    (
        "/v1/operator/raft/configuration",
        Endpoint::OperatorRaftConfiguration,
    ),
    ("/v1/operator/raft/peer", Endpoint::OperatorRaftPeer),
    (
        "/v1/operator/raft/transfer-leader",
        Endpoint::OperatorRaftTransferLeader,
    ),
    (
        "/v1/operator/autopilot/configuration",
        Endpoint::OperatorAutopilotConfiguration,
    ),
    (
        "/v1/operator/autopilot/health",
        Endpoint::OperatorAutopilotHealth,
    ),
    (
        "/v1/operator/autopilot/state",
        Endpoint::OperatorAutopilotState,
    ),
    ("/v1/operator/keyring", Endpoint::OperatorKeyring),
    ("/v1/session/create", Endpoint::SessionCreate),
    ("/v1/session/list", Endpoint::SessionList),
    ("/v1/txn", Endpoint::Txn),
    ("/v1/event/list", Endpoint::EventList),
    ("/v1/agent/metrics", Endpoint::AgentMetrics),
    (
        "/v1/coordinate/datacenters",
        Endpoint::CoordinateDatacenters,
    ),
    ("/v1/coordinate/nodes", Endpoint::CoordinateNodes),
    ("/v1/coordinate/update", Endpoint::CoordinateUpdate),
    ("/v1/query", Endpoint::Query),
    (crate::openapi::PATH, Endpoint::OpenApi),
];

/// Builds an endpoint from its path argument.
type WithArgument = fn(String) -> Endpoint;

/// Prefixes whose remainder is the argument.
pub(crate) const PREFIXES: &[(&str, WithArgument)] = &[
    ("/v1/kv/", Endpoint::Kv),
    ("/v1/catalog/service/", Endpoint::CatalogService),
    ("/v1/catalog/connect/", Endpoint::CatalogConnect),
    ("/v1/catalog/node/", Endpoint::CatalogNode),
    ("/v1/health/service/", Endpoint::HealthService),
    ("/v1/health/connect/", Endpoint::HealthConnect),
    ("/v1/health/checks/", Endpoint::HealthChecks),
    ("/v1/health/node/", Endpoint::HealthNode),
    ("/v1/health/state/", Endpoint::HealthState),
    // The more specific agent prefixes come before `/v1/agent/service/`.
    (
        "/v1/agent/service/deregister/",
        Endpoint::AgentServiceDeregister,
    ),
    (
        "/v1/agent/service/maintenance/",
        Endpoint::AgentServiceMaintenance,
    ),
    ("/v1/agent/service/", Endpoint::AgentService),
    (
        "/v1/agent/check/deregister/",
        Endpoint::AgentCheckDeregister,
    ),
    ("/v1/agent/check/pass/", Endpoint::AgentCheckPass),
    ("/v1/agent/check/warn/", Endpoint::AgentCheckWarn),
    ("/v1/agent/check/fail/", Endpoint::AgentCheckFail),
    ("/v1/agent/check/update/", Endpoint::AgentCheckUpdate),
    (
        "/v1/agent/health/service/id/",
        Endpoint::AgentHealthServiceId,
    ),
    (
        "/v1/agent/health/service/name/",
        Endpoint::AgentHealthServiceName,
    ),
    ("/v1/agent/join/", Endpoint::AgentJoin),
    ("/v1/agent/force-leave/", Endpoint::AgentForceLeave),
    ("/v1/session/destroy/", Endpoint::SessionDestroy),
    ("/v1/session/renew/", Endpoint::SessionRenew),
    ("/v1/session/info/", Endpoint::SessionInfo),
    ("/v1/session/node/", Endpoint::SessionNode),
    ("/v1/event/fire/", Endpoint::EventFire),
    ("/v1/coordinate/node/", Endpoint::CoordinateNode),
    ("/v1/query/", Endpoint::QueryItem),
];

impl Endpoint {
    /// The endpoint a decoded path names, if any.
    pub fn parse(path: &str) -> Option<Endpoint> {
        if path == "/" {
            return Some(Endpoint::Index);
        }
        if let Some((_, endpoint)) = EXACT.iter().find(|(exact, _)| *exact == path) {
            return Some(endpoint.clone());
        }
        PREFIXES.iter().find_map(|(prefix, build)| {
            path.strip_prefix(prefix)
                .map(|argument| build(argument.to_owned()))
        })
    }

    /// The methods the endpoint takes (besides `OPTIONS`), or `None` for any.
    pub fn methods(&self) -> Option<&'static [Method]> {
        match self {
            Endpoint::Index | Endpoint::QueryItem(_) => None,
            Endpoint::Query => Some(QUERY),
            Endpoint::Kv(_) => Some(KV),
            Endpoint::CatalogRegister
            | Endpoint::CatalogDeregister
            | Endpoint::AgentServiceRegister
            | Endpoint::AgentServiceDeregister(_)
            | Endpoint::AgentServiceMaintenance(_)
            | Endpoint::AgentMaintenance
            | Endpoint::AgentCheckRegister
            | Endpoint::AgentCheckDeregister(_)
            | Endpoint::AgentCheckPass(_)
            | Endpoint::AgentCheckWarn(_)
            | Endpoint::AgentCheckFail(_)
            | Endpoint::AgentCheckUpdate(_)
            | Endpoint::AgentJoin(_)
            | Endpoint::AgentLeave
            | Endpoint::AgentForceLeave(_)
            | Endpoint::SessionCreate
            | Endpoint::SessionDestroy(_)
            | Endpoint::SessionRenew(_)
            | Endpoint::Txn
            | Endpoint::EventFire(_)
            | Endpoint::CoordinateUpdate => Some(WRITE),
            Endpoint::OperatorRaftPeer => Some(REMOVE),
            Endpoint::OperatorRaftTransferLeader => Some(ACTION),
            Endpoint::OperatorAutopilotConfiguration => Some(READ_WRITE),
            Endpoint::OperatorKeyring => Some(KEYRING),
            Endpoint::CatalogDatacenters
            | Endpoint::CatalogNodes
            | Endpoint::CatalogServices
            | Endpoint::CatalogService(_)
            | Endpoint::CatalogConnect(_)
            | Endpoint::CatalogNode(_)
            | Endpoint::HealthService(_)
            | Endpoint::HealthConnect(_)
            | Endpoint::HealthChecks(_)
            | Endpoint::HealthNode(_)
            | Endpoint::HealthState(_)
            | Endpoint::StatusLeader
            | Endpoint::StatusPeers
            | Endpoint::AgentSelf
            | Endpoint::AgentMembers
            | Endpoint::AgentServices
            | Endpoint::AgentService(_)
            | Endpoint::AgentChecks
            | Endpoint::AgentHealthServiceId(_)
            | Endpoint::AgentHealthServiceName(_)
            | Endpoint::OperatorRaftConfiguration
            | Endpoint::OperatorAutopilotHealth
            | Endpoint::OperatorAutopilotState
            | Endpoint::SessionInfo(_)
            | Endpoint::SessionNode(_)
            | Endpoint::SessionList
            | Endpoint::EventList
            | Endpoint::AgentMetrics
            | Endpoint::CoordinateDatacenters
            | Endpoint::CoordinateNodes
            | Endpoint::CoordinateNode(_)
            | Endpoint::OpenApi => Some(READ),
        }
    }
}

/// Consul's text for a path that names no endpoint.
pub fn unknown_path_text(path: &str) -> &'static str {
    if path.contains("/v1/") {
        "Invalid URL path: not a recognized HTTP API endpoint\n"
    } else {
        "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_and_prefixed_paths() {
        assert_eq!(
            Endpoint::parse("/v1/catalog/nodes"),
            Some(Endpoint::CatalogNodes)
        );
        assert_eq!(Endpoint::parse("/v1/catalog/nodes/"), None);
        assert_eq!(
            Endpoint::parse("/v1/kv/a/b/"),
            Some(Endpoint::Kv("a/b/".into()))
        );
        assert_eq!(
            Endpoint::parse("/v1/kv/"),
            Some(Endpoint::Kv(String::new()))
        );
        assert_eq!(Endpoint::parse("/v1/kv"), None);
        assert_eq!(
            Endpoint::parse("/v1/health/service/web"),
            Some(Endpoint::HealthService("web".into()))
        );
        assert_eq!(Endpoint::parse("/v1/no/such"), None);
        assert_eq!(
            Endpoint::parse("/v1/agent/service/deregister/web"),
            Some(Endpoint::AgentServiceDeregister("web".into()))
        );
        assert_eq!(
            Endpoint::parse("/v1/agent/service/web"),
            Some(Endpoint::AgentService("web".into()))
        );
        assert_eq!(
            Endpoint::parse("/v1/agent/service/register"),
            Some(Endpoint::AgentServiceRegister)
        );
        assert_eq!(
            Endpoint::parse("/v1/agent/join/10.0.0.1:8301"),
            Some(Endpoint::AgentJoin("10.0.0.1:8301".into()))
        );
        assert_eq!(
            Endpoint::parse("/v1/agent/force-leave/n1"),
            Some(Endpoint::AgentForceLeave("n1".into()))
        );
        assert_eq!(
            Endpoint::parse("/v1/operator/keyring"),
            Some(Endpoint::OperatorKeyring)
        );
        assert_eq!(Endpoint::parse("/v1/operator/keyring/"), None);
        assert_eq!(
            Endpoint::parse("/v1/event/fire/deploy/web"),
            Some(Endpoint::EventFire("deploy/web".into()))
        );
        assert_eq!(Endpoint::parse("/v1/event/list"), Some(Endpoint::EventList));
        assert!(unknown_path_text("/v1/no").contains("not a recognized"));
        assert!(unknown_path_text("/v2/no").contains("starts with '/v1/'"));
    }
}
