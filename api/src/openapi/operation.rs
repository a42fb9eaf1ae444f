//! What each endpoint reads and answers: one exhaustive match over `Endpoint`, so that an
//! endpoint added to the router does not compile until it is described here.

use crate::route::Endpoint;
use crate::types;
use axum::http::Method;
use schemars::generate::SchemaGenerator;
use schemars::{JsonSchema, Schema};
use std::collections::BTreeMap;

/// Builds (and registers) the JSON Schema of one shape.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// Any JSON value: for answers whose shape the document does not pin down (a request body
/// decoded case-insensitively, or an answer built from several shapes).
fn any(_: &mut SchemaGenerator) -> Schema {
    Schema::default()
}

/// A JSON object: request bodies are decoded case-insensitively and leniently, as Consul
/// decodes them, so their fields are not pinned down here.
fn object(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({ "type": "object" })
}

/// A KV read: entries, or with `?keys` their names.
fn kv_answer(generator: &mut SchemaGenerator) -> Schema {
    let entries = generator.subschema_for::<Vec<types::KvPair>>();
    let keys = generator.subschema_for::<Vec<String>>();
    schemars::json_schema!({ "anyOf": [entries, keys] })
}

/// One described operation.
pub struct Operation {
    pub id: String,
    pub summary: &'static str,
    pub params: Vec<Param>,
    pub body: Body,
    pub ok: Answer,
    /// Answers 404 with an empty body for a missing item.
    pub not_found: bool,
}

pub enum Body {
    None,
    /// A JSON object, decoded case-insensitively as Consul decodes bodies.
    Json(SchemaFn),
    /// Raw bytes (a KV value, an event payload).
    Bytes,
}

pub enum Answer {
    Json(SchemaFn),
    Empty,
    /// JSON of this schema, or raw bytes or text, depending on the query (`?raw`,
    /// `?format=`).
    JsonOrRaw(SchemaFn),
}

#[derive(Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub description: &'static str,
}

#[derive(Clone, Copy)]
pub enum ParamKind {
    /// Set by its presence (`?stale`).
    Flag,
    Integer,
    Text,
    /// A Go duration (`10s`).
    Duration,
}

const fn p(name: &'static str, kind: ParamKind, description: &'static str) -> Param {
    Param {
        name,
        kind,
        description,
    }
}

use ParamKind::{Duration, Flag, Integer, Text};

const DC: Param = p("dc", Text, "The datacenter to ask (default: the agent's)");
const STALE: Param = p("stale", Flag, "Any server may answer");
const CONSISTENT: Param = p(
    "consistent",
    Flag,
    "The leader answers after a quorum check",
);
const CACHED: Param = p("cached", Flag, "The agent's cache may answer");
const INDEX: Param = p("index", Integer, "Block until the index passes this one");
const WAIT: Param = p("wait", Duration, "How long to block (at most 10m)");
const PRETTY: Param = p("pretty", Flag, "Indented JSON");
const FILTER: Param = p("filter", Text, "A filter expression (go-bexpr)");
const NEAR: Param = p(
    "near",
    Text,
    "Sort by round-trip time from this node (`_agent`)",
);
const NODE_META: Param = p("node-meta", Text, "key:value, nodes whose meta has it");
const TAG: Param = p("tag", Text, "Instances with this tag");
const PASSING: Param = p("passing", Flag, "Only instances whose checks all pass");
const CAS: Param = p("cas", Integer, "Check-and-set on this modify index");

/// A blocking read with the consistency modes.
const READ: &[Param] = &[DC, STALE, CONSISTENT, CACHED, INDEX, WAIT, PRETTY];
const READ_FILTER: &[Param] = &[DC, STALE, CONSISTENT, CACHED, INDEX, WAIT, PRETTY, FILTER];
const READ_NODES: &[Param] = &[
    DC, STALE, CONSISTENT, CACHED, INDEX, WAIT, PRETTY, FILTER, NEAR, NODE_META,
];
const READ_SERVICE: &[Param] = &[
    DC, STALE, CONSISTENT, CACHED, INDEX, WAIT, PRETTY, FILTER, NEAR, NODE_META, TAG,
];
const READ_HEALTH: &[Param] = &[
    DC, STALE, CONSISTENT, CACHED, INDEX, WAIT, PRETTY, FILTER, NEAR, NODE_META, TAG, PASSING,
];
const WRITE: &[Param] = &[DC, PRETTY];
const LOCAL: &[Param] = &[PRETTY];
const LOCAL_FILTER: &[Param] = &[PRETTY, FILTER];
const KV_READ: &[Param] = &[
    DC,
    STALE,
    CONSISTENT,
    CACHED,
    INDEX,
    WAIT,
    PRETTY,
    p("recurse", Flag, "Every key under the prefix"),
    p("keys", Flag, "Only the key names"),
    p("separator", Text, "With ?keys: list up to this separator"),
    p("raw", Flag, "The value's bytes, not JSON"),
];
const KV_WRITE: &[Param] = &[
    DC,
    PRETTY,
    CAS,
    p(
        "flags",
        Integer,
        "An opaque 64-bit number kept with the key",
    ),
    p("acquire", Text, "Take the lock for this session"),
    p("release", Text, "Release the lock this session holds"),
];
const KV_DELETE: &[Param] = &[
    DC,
    PRETTY,
    CAS,
    p("recurse", Flag, "Every key under the prefix"),
];

fn op(id: &str, summary: &'static str, params: &[Param], body: Body, ok: Answer) -> Operation {
    Operation {
        id: id.to_owned(),
        summary,
        params: params.to_vec(),
        body,
        ok,
        not_found: false,
    }
}

/// The path parameter a prefixed endpoint takes, named for what it is.
pub fn argument(endpoint: &Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Kv(_) => "key",
        Endpoint::CatalogService(_)
        | Endpoint::CatalogConnect(_)
        | Endpoint::HealthService(_)
        | Endpoint::HealthConnect(_)
        | Endpoint::HealthChecks(_)
        | Endpoint::AgentHealthServiceName(_) => "service",
        Endpoint::CatalogNode(_)
        | Endpoint::HealthNode(_)
        | Endpoint::SessionNode(_)
        | Endpoint::CoordinateNode(_)
        | Endpoint::AgentForceLeave(_) => "node",
        Endpoint::HealthState(_) => "state",
        Endpoint::AgentService(_)
        | Endpoint::AgentServiceDeregister(_)
        | Endpoint::AgentServiceMaintenance(_)
        | Endpoint::AgentHealthServiceId(_) => "service_id",
        Endpoint::AgentCheckDeregister(_)
        | Endpoint::AgentCheckPass(_)
        | Endpoint::AgentCheckWarn(_)
        | Endpoint::AgentCheckFail(_)
        | Endpoint::AgentCheckUpdate(_) => "check_id",
        Endpoint::AgentJoin(_) => "address",
        Endpoint::SessionDestroy(_) | Endpoint::SessionRenew(_) | Endpoint::SessionInfo(_) => {
            "session"
        }
        Endpoint::EventFire(_) => "name",
        Endpoint::QueryItem(_) => "query",
        _ => "argument",
    }
}

type Services = BTreeMap<String, Vec<String>>;

/// What `method` on `endpoint` reads and answers, or `None` when the endpoint does not
/// take the method (for the endpoints that accept any and decide in the handler).
pub fn describe(endpoint: &Endpoint, method: &Method) -> Option<Operation> {
    use Answer::{Empty, Json};
    let get = *method == Method::GET;
    let m = method.as_str().to_ascii_lowercase();
    let id = |name: &str| format!("{m}_{name}");
    let described = match endpoint {
        Endpoint::Index => return None,
        Endpoint::OpenApi => op(
            &id("openapi"),
            "This document",
            LOCAL,
            Body::None,
            Json(any),
        ),
        Endpoint::Kv(_) => match *method {
            Method::GET => Operation {
                not_found: true,
                ..op(
                    &id("kv"),
                    "Read a key, a prefix or key names",
                    KV_READ,
                    Body::None,
                    Answer::JsonOrRaw(kv_answer),
                )
            },
            Method::PUT => op(
                &id("kv"),
                "Write a key",
                KV_WRITE,
                Body::Bytes,
                Json(schema::<bool>),
            ),
            _ => op(
                &id("kv"),
                "Delete a key or a prefix",
                KV_DELETE,
                Body::None,
                Json(schema::<bool>),
            ),
        },
        Endpoint::CatalogRegister => op(
            &id("catalog_register"),
            "Register a node, a service, checks",
            WRITE,
            Body::Json(object),
            Json(schema::<bool>),
        ),
        Endpoint::CatalogDeregister => op(
            &id("catalog_deregister"),
            "Deregister a node, a service or a check",
            WRITE,
            Body::Json(object),
            Json(schema::<bool>),
        ),
        Endpoint::CatalogDatacenters => op(
            &id("catalog_datacenters"),
            "Known datacenters",
            LOCAL,
            Body::None,
            Json(schema::<Vec<String>>),
        ),
        Endpoint::CatalogNodes => op(
            &id("catalog_nodes"),
            "Nodes",
            READ_NODES,
            Body::None,
            Json(schema::<Vec<types::Node>>),
        ),
        Endpoint::CatalogServices => op(
            &id("catalog_services"),
            "Service names with their tags",
            READ_NODES,
            Body::None,
            Json(schema::<Services>),
        ),
        Endpoint::CatalogService(_) => op(
            &id("catalog_service"),
            "Instances of a service",
            READ_SERVICE,
            Body::None,
            Json(schema::<Vec<types::CatalogService>>),
        ),
        Endpoint::CatalogConnect(_) => op(
            &id("catalog_connect"),
            "Mesh-capable instances of a service",
            READ_SERVICE,
            Body::None,
            Json(schema::<Vec<types::CatalogService>>),
        ),
        Endpoint::CatalogNode(_) => op(
            &id("catalog_node"),
            "A node and its services",
            READ_FILTER,
            Body::None,
            Json(any),
        ),
        Endpoint::HealthService(_) => op(
            &id("health_service"),
            "Instances of a service with their node and checks",
            READ_HEALTH,
            Body::None,
            Json(schema::<Vec<types::ServiceEntry>>),
        ),
        Endpoint::HealthConnect(_) => op(
            &id("health_connect"),
            "Mesh-capable instances with their node and checks",
            READ_HEALTH,
            Body::None,
            Json(schema::<Vec<types::ServiceEntry>>),
        ),
        Endpoint::HealthChecks(_) => op(
            &id("health_checks"),
            "Checks of a service",
            READ_NODES,
            Body::None,
            Json(schema::<Vec<types::HealthCheck>>),
        ),
        Endpoint::HealthNode(_) => op(
            &id("health_node"),
            "Checks of a node",
            READ_FILTER,
            Body::None,
            Json(schema::<Vec<types::HealthCheck>>),
        ),
        Endpoint::HealthState(_) => op(
            &id("health_state"),
            "Checks in a state (any, passing, warning, critical)",
            READ_NODES,
            Body::None,
            Json(schema::<Vec<types::HealthCheck>>),
        ),
        Endpoint::StatusLeader => op(
            &id("status_leader"),
            "The leader's RPC address",
            &[DC, PRETTY],
            Body::None,
            Json(schema::<String>),
        ),
        Endpoint::StatusPeers => op(
            &id("status_peers"),
            "The voters' RPC addresses",
            &[DC, PRETTY],
            Body::None,
            Json(schema::<Vec<String>>),
        ),
        Endpoint::AgentSelf => op(
            &id("agent_self"),
            "This agent's configuration and member record",
            LOCAL,
            Body::None,
            Json(schema::<types::AgentSelf>),
        ),
        Endpoint::AgentMembers => op(
            &id("agent_members"),
            "Gossip members",
            &[
                PRETTY,
                p("wan", Flag, "The WAN pool"),
                p("segment", Text, "A network segment"),
            ],
            Body::None,
            Json(schema::<Vec<types::Member>>),
        ),
        Endpoint::AgentServices => op(
            &id("agent_services"),
            "This agent's services",
            LOCAL_FILTER,
            Body::None,
            Json(schema::<BTreeMap<String, types::AgentService>>),
        ),
        Endpoint::AgentService(_) => Operation {
            not_found: true,
            ..op(
                &id("agent_service"),
                "One of this agent's services",
                LOCAL,
                Body::None,
                Json(any),
            )
        },
        Endpoint::AgentServiceRegister => op(
            &id("agent_service_register"),
            "Register a service with this agent",
            &[
                PRETTY,
                p(
                    "replace-existing-checks",
                    Flag,
                    "Replace the service's checks",
                ),
            ],
            Body::Json(object),
            Empty,
        ),
        Endpoint::AgentServiceDeregister(_) => op(
            &id("agent_service_deregister"),
            "Deregister a service",
            LOCAL,
            Body::None,
            Empty,
        ),
        Endpoint::AgentServiceMaintenance(_) => op(
            &id("agent_service_maintenance"),
            "Put a service in or out of maintenance",
            &[
                PRETTY,
                p("enable", Text, "true or false"),
                p("reason", Text, "Why"),
            ],
            Body::None,
            Empty,
        ),
        Endpoint::AgentMaintenance => op(
            &id("agent_maintenance"),
            "Put this node in or out of maintenance",
            &[
                PRETTY,
                p("enable", Text, "true or false"),
                p("reason", Text, "Why"),
            ],
            Body::None,
            Empty,
        ),
        Endpoint::AgentChecks => op(
            &id("agent_checks"),
            "This agent's checks",
            LOCAL_FILTER,
            Body::None,
            Json(schema::<BTreeMap<String, types::HealthCheck>>),
        ),
        Endpoint::AgentCheckRegister => op(
            &id("agent_check_register"),
            "Register a check with this agent",
            LOCAL,
            Body::Json(object),
            Empty,
        ),
        Endpoint::AgentCheckDeregister(_) => op(
            &id("agent_check_deregister"),
            "Deregister a check",
            LOCAL,
            Body::None,
            Empty,
        ),
        Endpoint::AgentCheckPass(_) => op(
            &id("agent_check_pass"),
            "Set a TTL check passing",
            &[PRETTY, p("note", Text, "The check's output")],
            Body::None,
            Empty,
        ),
        Endpoint::AgentCheckWarn(_) => op(
            &id("agent_check_warn"),
            "Set a TTL check warning",
            &[PRETTY, p("note", Text, "The check's output")],
            Body::None,
            Empty,
        ),
        Endpoint::AgentCheckFail(_) => op(
            &id("agent_check_fail"),
            "Set a TTL check critical",
            &[PRETTY, p("note", Text, "The check's output")],
            Body::None,
            Empty,
        ),
        Endpoint::AgentCheckUpdate(_) => op(
            &id("agent_check_update"),
            "Set a TTL check's status and output",
            LOCAL,
            Body::Json(object),
            Empty,
        ),
        Endpoint::AgentHealthServiceId(_) => Operation {
            not_found: true,
            ..op(
                &id("agent_health_service_id"),
                "The aggregated health of one service instance",
                &[PRETTY, p("format", Text, "text for a plain-text answer")],
                Body::None,
                Answer::JsonOrRaw(any),
            )
        },
        Endpoint::AgentHealthServiceName(_) => Operation {
            not_found: true,
            ..op(
                &id("agent_health_service_name"),
                "The aggregated health of a service's instances",
                &[PRETTY, p("format", Text, "text for a plain-text answer")],
                Body::None,
                Answer::JsonOrRaw(any),
            )
        },
        Endpoint::AgentJoin(_) => op(
            &id("agent_join"),
            "Join a gossip pool through an address",
            &[PRETTY, p("wan", Flag, "The WAN pool")],
            Body::None,
            Empty,
        ),
        Endpoint::AgentLeave => op(
            &id("agent_leave"),
            "Leave gracefully",
            LOCAL,
            Body::None,
            Empty,
        ),
        Endpoint::AgentForceLeave(_) => op(
            &id("agent_force_leave"),
            "Mark a failed member left",
            &[
                PRETTY,
                p("prune", Flag, "Forget it at once"),
                p("wan", Flag, "The WAN pool"),
            ],
            Body::None,
            Empty,
        ),
        Endpoint::OperatorRaftConfiguration => op(
            &id("operator_raft_configuration"),
            "The Raft configuration",
            &[DC, STALE, PRETTY],
            Body::None,
            Json(schema::<types::RaftConfiguration>),
        ),
        Endpoint::OperatorRaftPeer => op(
            &id("operator_raft_peer"),
            "Remove a Raft peer",
            &[
                DC,
                PRETTY,
                p("id", Text, "The peer's id"),
                p("address", Text, "The peer's address"),
            ],
            Body::None,
            Empty,
        ),
        Endpoint::OperatorRaftTransferLeader => op(
            &id("operator_raft_transfer_leader"),
            "Hand leadership to another server",
            &[DC, PRETTY, p("id", Text, "The server to hand it to")],
            Body::None,
            Json(schema::<types::TransferLeaderResponse>),
        ),
        Endpoint::OperatorAutopilotConfiguration => {
            if get {
                op(
                    &id("operator_autopilot_configuration"),
                    "Autopilot's settings",
                    &[DC, STALE, PRETTY],
                    Body::None,
                    Json(schema::<types::AutopilotConfiguration>),
                )
            } else {
                op(
                    &id("operator_autopilot_configuration"),
                    "Change autopilot's settings",
                    &[DC, PRETTY, CAS],
                    Body::Json(object),
                    Json(schema::<bool>),
                )
            }
        }
        Endpoint::OperatorAutopilotHealth => op(
            &id("operator_autopilot_health"),
            "The servers' health as autopilot sees it",
            &[DC, STALE, PRETTY],
            Body::None,
            Json(schema::<types::OperatorHealthReply>),
        ),
        Endpoint::OperatorAutopilotState => op(
            &id("operator_autopilot_state"),
            "Autopilot's state",
            &[DC, STALE, PRETTY],
            Body::None,
            Json(schema::<types::AutopilotState>),
        ),
        Endpoint::OperatorKeyring => op(
            &id("operator_keyring"),
            "List, install, use or remove gossip keys",
            &[
                PRETTY,
                p(
                    "relay-factor",
                    Integer,
                    "Relay the answer through this many nodes",
                ),
            ],
            if get { Body::None } else { Body::Json(object) },
            if get {
                Json(schema::<Vec<types::KeyringResponse>>)
            } else {
                Empty
            },
        ),
        Endpoint::SessionCreate => op(
            &id("session_create"),
            "Create a session",
            WRITE,
            Body::Json(object),
            Json(schema::<types::session::SessionCreated>),
        ),
        Endpoint::SessionDestroy(_) => op(
            &id("session_destroy"),
            "Destroy a session",
            WRITE,
            Body::None,
            Json(schema::<bool>),
        ),
        Endpoint::SessionRenew(_) => Operation {
            not_found: true,
            ..op(
                &id("session_renew"),
                "Renew a session's TTL",
                WRITE,
                Body::None,
                Json(schema::<Vec<types::session::SessionEntry>>),
            )
        },
        Endpoint::SessionInfo(_) => op(
            &id("session_info"),
            "One session",
            READ,
            Body::None,
            Json(any),
        ),
        Endpoint::SessionNode(_) => op(
            &id("session_node"),
            "A node's sessions",
            READ,
            Body::None,
            Json(schema::<Vec<types::session::SessionEntry>>),
        ),
        Endpoint::SessionList => op(
            &id("session_list"),
            "Every session",
            READ,
            Body::None,
            Json(schema::<Vec<types::session::SessionEntry>>),
        ),
        Endpoint::Txn => op(
            &id("txn"),
            "Apply operations all together or not at all",
            &[DC, PRETTY, STALE, CONSISTENT],
            Body::Json(object),
            Json(any),
        ),
        Endpoint::EventFire(_) => op(
            &id("event_fire"),
            "Fire a user event",
            &[
                DC,
                PRETTY,
                p(
                    "node",
                    Text,
                    "Nodes whose name matches this regular expression",
                ),
                p("service", Text, "Nodes running a service matching this"),
                p(
                    "tag",
                    Text,
                    "With ?service: instances with a tag matching this",
                ),
            ],
            Body::Bytes,
            Json(schema::<types::Event>),
        ),
        Endpoint::EventList => op(
            &id("event_list"),
            "The user events this agent saw",
            &[
                PRETTY,
                INDEX,
                WAIT,
                p("name", Text, "Only events of this name"),
            ],
            Body::None,
            Json(schema::<Vec<types::Event>>),
        ),
        Endpoint::AgentMetrics => op(
            &id("agent_metrics"),
            "This agent's metrics",
            &[PRETTY, p("format", Text, "prometheus for the text format")],
            Body::None,
            Answer::JsonOrRaw(any),
        ),
        Endpoint::CoordinateDatacenters => op(
            &id("coordinate_datacenters"),
            "Coordinates of every datacenter's servers",
            LOCAL,
            Body::None,
            Json(schema::<Vec<types::DatacenterMap>>),
        ),
        Endpoint::CoordinateNodes => op(
            &id("coordinate_nodes"),
            "Coordinates of the nodes",
            READ,
            Body::None,
            Json(schema::<Vec<types::CoordinateEntry>>),
        ),
        Endpoint::CoordinateNode(_) => Operation {
            not_found: true,
            ..op(
                &id("coordinate_node"),
                "Coordinates of one node",
                READ,
                Body::None,
                Json(schema::<Vec<types::CoordinateEntry>>),
            )
        },
        Endpoint::CoordinateUpdate => op(
            &id("coordinate_update"),
            "Set a node's coordinate",
            WRITE,
            Body::Json(object),
            Json(schema::<bool>),
        ),
        Endpoint::Query => {
            if get {
                op(
                    &id("query"),
                    "Prepared queries",
                    &[DC, STALE, CONSISTENT, PRETTY],
                    Body::None,
                    Json(any),
                )
            } else {
                op(
                    &id("query"),
                    "Create a prepared query",
                    WRITE,
                    Body::Json(object),
                    Json(any),
                )
            }
        }
        Endpoint::QueryItem(_) => match *method {
            Method::GET => Operation {
                not_found: true,
                ..op(
                    &id("query_item"),
                    "A prepared query, or its execute or explain",
                    READ,
                    Body::None,
                    Json(any),
                )
            },
            Method::PUT => op(
                &id("query_item"),
                "Update a prepared query",
                WRITE,
                Body::Json(object),
                Empty,
            ),
            Method::DELETE => op(
                &id("query_item"),
                "Delete a prepared query",
                WRITE,
                Body::None,
                Empty,
            ),
            _ => return None,
        },
    };
    Some(described)
}
