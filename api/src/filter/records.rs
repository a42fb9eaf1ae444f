//! The shapes of the records Consul filters, one per Go type its endpoints hand to
//! go-bexpr (`agent/consul/catalog_endpoint.go`, `health_endpoint.go`,
//! `agent/agent_endpoint.go`):
//!
//! | endpoint                          | each record             | shape            |
//! |-----------------------------------|-------------------------|------------------|
//! | `/v1/catalog/nodes`               | `structs.Node`          | `NODE`           |
//! | `/v1/catalog/services`            | `structs.ServiceNode`, before grouping by name | `SERVICE_NODE` |
//! | `/v1/catalog/service/:name`       | `structs.ServiceNode`   | `SERVICE_NODE`   |
//! | `/v1/catalog/node/:node`          | each `structs.NodeService` of `Services` | `NODE_SERVICE` |
//! | `/v1/health/node`, `checks`, `state` | `structs.HealthCheck` | `HEALTH_CHECK`   |
//! | `/v1/health/service/:name`        | `structs.CheckServiceNode` | `SERVICE_ENTRY` |
//! | `/v1/agent/services`              | each `api.AgentService` | `AGENT_SERVICE`  |
//! | `/v1/agent/checks`                | each `structs.HealthCheck` | `HEALTH_CHECK` |
//!
//! The selectable fields are those of Consul's API documentation tables ("Filtering" under
//! each endpoint), which go-bexpr generates from the structs, plus the few later fields the
//! structs gained without a `bexpr:"-"` tag (`PeerName`, `SocketPath`, a check's `Type`,
//! `Interval`, `Timeout`, `ExposedPort`). Raft indexes, enterprise metadata and a check's
//! `Definition` are tagged `bexpr:"-"` in Consul, so selecting them is an error here too.
//! A field missing from our JSON (an empty mesh `Proxy`, say) reads as Go's zero value.
//! (In `api.AgentService`, `Proxy` and `Connect` are pointers, nil for a plain service,
//! and go-bexpr v0.1.2 fails the whole request on a selector through a nil pointer; here
//! they read as zero values too.)

use crate::filter::shape::{Field, Shape};

const TEXT: Shape = Shape::Text;
const BOOLEAN: Shape = Shape::Boolean;
const INTEGER: Shape = Shape::Integer;
const TEXTS: Shape = Shape::List(&Shape::Text);
const TEXT_MAP: Shape = Shape::Map(&Shape::Text);

/// `structs.Node`.
pub const NODE: Shape = Shape::Record(&[
    Field::new("ID", TEXT),
    Field::new("Node", TEXT),
    Field::new("Address", TEXT),
    Field::new("Datacenter", TEXT),
    Field::new("TaggedAddresses", TEXT_MAP),
    Field::new("Meta", TEXT_MAP),
    Field::new("PeerName", TEXT),
]);

/// `structs.ServiceAddress`.
const SERVICE_ADDRESS: Shape =
    Shape::Record(&[Field::new("Address", TEXT), Field::new("Port", INTEGER)]);

/// `structs.Weights`.
const WEIGHTS: Shape = Shape::Record(&[
    Field::new("Passing", INTEGER),
    Field::new("Warning", INTEGER),
]);

/// `structs.MeshGatewayConfig`.
const MESH_GATEWAY: Shape = Shape::Record(&[Field::new("Mode", TEXT)]);

/// `structs.Upstream`.
const UPSTREAM: Shape = Shape::Record(&[
    Field::new("DestinationType", TEXT),
    Field::new("DestinationNamespace", TEXT),
    Field::new("DestinationName", TEXT),
    Field::new("Datacenter", TEXT),
    Field::new("LocalBindAddress", TEXT),
    Field::new("LocalBindPort", INTEGER),
    Field::new("MeshGateway", MESH_GATEWAY),
]);

/// `structs.ConnectProxyConfig`.
const PROXY: Shape = Shape::Record(&[
    Field::new("DestinationServiceName", TEXT),
    Field::new("DestinationServiceID", TEXT),
    Field::new("LocalServiceAddress", TEXT),
    Field::new("LocalServicePort", INTEGER),
    Field::new("Mode", TEXT),
    Field::new(
        "TransparentProxy",
        Shape::Record(&[Field::new("OutboundListenerPort", INTEGER)]),
    ),
    Field::new("MeshGateway", MESH_GATEWAY),
    Field::new("Upstreams", Shape::List(&UPSTREAM)),
]);

/// `structs.ServiceConnect`.
const CONNECT: Shape = Shape::Record(&[Field::new("Native", BOOLEAN)]);

/// The fields `structs.NodeService` and `api.AgentService` share.
macro_rules! service_fields {
    ($($extra:expr),*) => {
        &[
            Field::new("Kind", TEXT),
            Field::new("ID", TEXT),
            Field::new("Service", TEXT),
            Field::new("Tags", TEXTS),
            Field::new("Address", TEXT),
            Field::new("TaggedAddresses", Shape::Map(&SERVICE_ADDRESS)),
            Field::new("Meta", TEXT_MAP),
            Field::new("Port", INTEGER),
            Field::new("SocketPath", TEXT),
            Field::new("Weights", WEIGHTS),
            Field::new("EnableTagOverride", BOOLEAN),
            Field::new("Proxy", PROXY),
            Field::new("Connect", CONNECT),
            Field::new("PeerName", TEXT),
            $($extra),*
        ]
    };
}

/// `structs.NodeService`.
pub const NODE_SERVICE: Shape = Shape::Record(service_fields!());

/// `api.AgentService`, which adds the datacenter.
pub const AGENT_SERVICE: Shape = Shape::Record(service_fields!(Field::new("Datacenter", TEXT)));

/// `structs.ServiceNode`: an instance flattened with its node.
pub const SERVICE_NODE: Shape = Shape::Record(&[
    Field::new("ID", TEXT),
    Field::new("Node", TEXT),
    Field::new("Address", TEXT),
    Field::new("Datacenter", TEXT),
    Field::new("TaggedAddresses", TEXT_MAP),
    Field::new("NodeMeta", TEXT_MAP),
    Field::new("ServiceKind", TEXT),
    Field::new("ServiceID", TEXT),
    Field::new("ServiceName", TEXT),
    Field::new("ServiceTags", TEXTS),
    Field::new("ServiceAddress", TEXT),
    Field::new("ServiceTaggedAddresses", Shape::Map(&SERVICE_ADDRESS)),
    Field::new("ServiceWeights", WEIGHTS),
    Field::new("ServiceMeta", TEXT_MAP),
    Field::new("ServicePort", INTEGER),
    Field::new("ServiceSocketPath", TEXT),
    Field::new("ServiceEnableTagOverride", BOOLEAN),
    Field::new("ServiceProxy", PROXY),
    Field::new("ServiceConnect", CONNECT),
    Field::new("PeerName", TEXT),
]);

/// `structs.HealthCheck`.
pub const HEALTH_CHECK: Shape = Shape::Record(&[
    Field::new("Node", TEXT),
    Field::new("CheckID", TEXT),
    Field::new("Name", TEXT),
    Field::new("Status", TEXT),
    Field::new("Notes", TEXT),
    Field::new("Output", TEXT),
    Field::new("ServiceID", TEXT),
    Field::new("ServiceName", TEXT),
    Field::new("ServiceTags", TEXTS),
    Field::new("Type", TEXT),
    Field::new("Interval", TEXT),
    Field::new("Timeout", TEXT),
    Field::new("ExposedPort", INTEGER),
    Field::new("PeerName", TEXT),
]);

/// `structs.CheckServiceNode`: a `ServiceEntry`.
pub const SERVICE_ENTRY: Shape = Shape::Record(&[
    Field::new("Node", NODE),
    Field::new("Service", NODE_SERVICE),
    Field::new("Checks", Shape::List(&HEALTH_CHECK)),
]);
