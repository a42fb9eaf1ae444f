//! Consul's JSON shapes, kept apart from the catalog's durable records.
//!
//! Response types derive `Serialize` with Consul's PascalCase names and `Deserialize`
//! leniently (missing fields default, `null` collections read as empty), so the same types
//! serve the router and the typed client. Request bodies (`registration`) decode with
//! folded field names (see `decode`). Empty collections serialise as `[]`/`{}`: Consul
//! replaces nil `Tags`, `Checks` and the like on the way out, and clients index into them
//! without checking. The exception is a field the Go struct that writes the answer tags
//! `omitempty`: that one is left out when empty, exactly as Consul leaves it out. Each type
//! names that struct; it is often the server's (`agent/structs`), not the client's `api`
//! package, and the two differ.
//!
//! Layout:
//! - `node`: `Node`.
//! - `service`: `AgentService` (agent endpoints), `CatalogService` (catalog listing),
//!   `Weights`, `ServiceAddress`.
//! - `node_service`: `NodeService`, an instance as health entries and `/v1/catalog/node`
//!   show it.
//! - `check`: `HealthCheck` and its `Definition`, `ServiceEntry`.
//! - `kv`: `KvPair` with its base64 `Value`.
//! - `agent`: `Member`, `AgentSelf` (with `XdsSelf`), `NodeServices`.
//! - `agent_registration`: the agent service and check register bodies, and their specs.
//! - `registration`: the catalog register and deregister bodies and their commands.
//! - `operator_raft`, `operator_autopilot`, `operator_keyring`: the `/v1/operator/*` shapes.
//! - `event`: `Event`, a user event.
//! - `session`: `SessionEntry` and the create body; `txn`: `/v1/txn` bodies and answers.

pub mod agent;
pub mod agent_registration;
pub mod check;
pub mod coordinate;
pub mod event;
pub mod kv;
pub mod node;
pub mod node_service;
pub mod operator_autopilot;
pub mod operator_keyring;
pub mod operator_raft;
pub mod registration;
pub mod service;
pub mod session;
pub mod txn;

pub use agent::{AgentSelf, GrpcPorts, Member, NodeServices, SelfConfig, XdsSelf};
pub use agent_registration::{AgentCheckBody, AgentServiceBody, CheckUpdateBody};
pub use check::{CheckDefinition, HealthCheck, ServiceEntry};
pub use coordinate::{CoordJson, CoordinateEntry, DatacenterMap};
pub use event::Event;
pub use kv::KvPair;
pub use node::Node;
pub use node_service::NodeService;
pub use operator_autopilot::{
    AutopilotConfigBody, AutopilotConfiguration, AutopilotServer, AutopilotState,
    OperatorHealthReply, ServerHealth,
};
pub use operator_keyring::{KeyringBody, KeyringResponse};
pub use operator_raft::{RaftConfiguration, RaftServer, TransferLeaderResponse};
pub use registration::{
    CheckBody, DefinitionBody, DeregisterBody, RegisterBody, ServiceAddressBody, ServiceBody,
    WeightsBody,
};
pub use service::{AgentService, CatalogService, ServiceAddress, Weights};
