//! The `/v1/catalog/register` and `/v1/catalog/deregister` bodies, and their commands.
//!
//! Bodies decode with folded field names (`decode`), so `NodeMeta`, `node_meta` and
//! `nodemeta` are one field, and `"Check":null` is an absent check. Validation follows
//! Consul's `Catalog.Register` RPC, whose errors reach clients as 500s with these texts:
//! 1. `Node` is required ("Must provide node"); a non-empty `ID` must be a UUID
//!    ("Bad node ID: ...").
//! 2. `Address` is required unless `SkipNodeUpdate`.
//! 3. A service's `ID` defaults to its name; an `ID` without a name is refused, and so is a
//!    wildcard address ("Invalid service address").
//! 4. `Check` is appended to `Checks`; a check's `Node` defaults to the request's and must
//!    match it, and its `CheckID` defaults to its `Name`.

use crate::decode::GoDuration;
use crate::error::ApiError;
use crate::folded_struct;
use legate_catalog::command::{Deregistration, Registration};
use legate_catalog::{self as catalog, Datacenter, Health};
use std::collections::BTreeMap;

folded_struct! {
    /// An address and port under a service's `TaggedAddresses` (docs show lower case).
    pub struct ServiceAddressBody {
        address: String => "Address",
        port: u16 => "Port",
    }
}

folded_struct! {
    /// DNS weights of a service instance.
    pub struct WeightsBody {
        passing: i64 => "Passing",
        warning: i64 => "Warning",
    }
}

folded_struct! {
    /// A check's probe definition.
    pub struct DefinitionBody {
        http: String => "HTTP",
        tls_server_name: String => "TLSServerName",
        tls_skip_verify: bool => "TLSSkipVerify",
        header: BTreeMap<String, Vec<String>> => "Header",
        method: String => "Method",
        body: String => "Body",
        tcp: String => "TCP",
        udp: String => "UDP",
        grpc: String => "GRPC",
        grpc_use_tls: bool => "GRPCUseTLS",
        os_service: String => "OSService",
        ttl: GoDuration => "TTL",
        interval: GoDuration => "Interval",
        timeout: GoDuration => "Timeout",
        deregister_critical_service_after: GoDuration => "DeregisterCriticalServiceAfter",
    }
}

folded_struct! {
    /// A health check in a catalog registration.
    pub struct CheckBody {
        node: String => "Node",
        check_id: String => "CheckID" | "id",
        name: String => "Name",
        status: String => "Status",
        notes: String => "Notes",
        output: String => "Output",
        service_id: String => "ServiceID",
        service_name: String => "ServiceName",
        service_tags: Vec<String> => "ServiceTags",
        check_type: String => "Type",
        interval: GoDuration => "Interval",
        timeout: GoDuration => "Timeout",
        exposed_port: u16 => "ExposedPort",
        definition: DefinitionBody => "Definition",
        /// Read only by `/v1/txn`'s `cas` and `delete-cas` verbs.
        modify_index: u64 => "ModifyIndex",
    }
}

folded_struct! {
    /// A service instance in a catalog registration. Consul calls the name `Service`; the
    /// agent endpoints call it `Name`, and both are accepted.
    pub struct ServiceBody {
        kind: String => "Kind",
        id: String => "ID",
        service: String => "Service" | "name",
        tags: Vec<String> => "Tags",
        address: String => "Address",
        tagged_addresses: BTreeMap<String, ServiceAddressBody> => "TaggedAddresses",
        meta: BTreeMap<String, String> => "Meta",
        port: u16 => "Port",
        socket_path: String => "SocketPath",
        weights: WeightsBody => "Weights",
        enable_tag_override: bool => "EnableTagOverride",
        /// Read only by `/v1/txn`'s `cas` and `delete-cas` verbs.
        modify_index: u64 => "ModifyIndex",
    }
}

folded_struct! {
    /// `PUT /v1/catalog/register`.
    pub struct RegisterBody {
        datacenter: String => "Datacenter",
        id: String => "ID",
        node: String => "Node",
        address: String => "Address",
        tagged_addresses: BTreeMap<String, String> => "TaggedAddresses",
        node_meta: BTreeMap<String, String> => "NodeMeta",
        service: ServiceBody => "Service",
        check: CheckBody => "Check",
        checks: Vec<CheckBody> => "Checks",
        skip_node_update: bool => "SkipNodeUpdate",
    }
}

folded_struct! {
    /// `PUT /v1/catalog/deregister`. `ServiceID` wins over `CheckID`; with neither, the
    /// whole node goes.
    pub struct DeregisterBody {
        datacenter: String => "Datacenter",
        node: String => "Node",
        service_id: String => "ServiceID",
        check_id: String => "CheckID",
    }
}

fn refused(text: impl Into<String>) -> ApiError {
    ApiError::Refused(text.into())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.is_empty())
}

/// The datacenter a body names, if any.
fn datacenter(value: &Option<String>) -> Option<Datacenter> {
    value
        .as_deref()
        .filter(|dc| !dc.is_empty())
        .map(Datacenter::from)
}

/// Checks a node id the way hashicorp/go-uuid's `ParseUUID` does.
pub(crate) fn check_node_id(id: &str) -> Result<(), ApiError> {
    if id.len() != 36 {
        return Err(refused("Bad node ID: uuid string is wrong length"));
    }
    let well_formed = id.char_indices().all(|(at, c)| match at {
        8 | 13 | 18 | 23 => c == '-',
        _ => c.is_ascii_hexdigit(),
    });
    if !well_formed {
        return Err(refused("Bad node ID: uuid is improperly formatted"));
    }
    Ok(())
}

/// Consul's `ipaddr.IsAny`: an unspecified address a service cannot be reached at.
fn is_any_address(address: &str) -> bool {
    matches!(address, "0.0.0.0" | "::" | "[::]")
}

impl RegisterBody {
    /// The datacenter to register in (`None`: the local one) and the command.
    pub fn into_command(self) -> Result<(Option<Datacenter>, Registration), ApiError> {
        let target = datacenter(&self.datacenter);
        let node_name = non_empty(self.node).ok_or_else(|| refused("Must provide node"))?;
        let id = self.id.unwrap_or_default();
        if !id.is_empty() {
            check_node_id(&id)?;
        }
        let skip_node_update = self.skip_node_update.unwrap_or(false);
        let address = self.address.unwrap_or_default();
        if address.is_empty() && !skip_node_update {
            return Err(refused("Must provide address if SkipNodeUpdate is not set"));
        }
        let node = catalog::Node {
            id,
            name: node_name.as_str().into(),
            address,
            tagged_addresses: self.tagged_addresses.unwrap_or_default(),
            meta: self.node_meta.unwrap_or_default(),
            indexes: Default::default(),
        };
        let service = self
            .service
            .map(|service| service.into_record(&node_name))
            .transpose()?;
        let mut checks = Vec::new();
        for body in self
            .check
            .into_iter()
            .chain(self.checks.into_iter().flatten())
        {
            checks.push(body.into_record(&node_name)?);
        }
        let registration = Registration {
            node,
            skip_node_update,
            service,
            checks,
        };
        Ok((target, registration))
    }
}

/// A service's `TaggedAddresses` body as the catalog stores them.
pub fn tagged_addresses(
    bodies: Option<BTreeMap<String, ServiceAddressBody>>,
) -> BTreeMap<String, catalog::ServiceAddress> {
    bodies
        .unwrap_or_default()
        .into_iter()
        .map(|(tag, body)| {
            let address = catalog::ServiceAddress {
                address: body.address.unwrap_or_default(),
                port: body.port.unwrap_or(0),
            };
            (tag, address)
        })
        .collect()
}

impl ServiceBody {
    pub(crate) fn into_record(self, node: &str) -> Result<catalog::Service, ApiError> {
        let name = self.service.unwrap_or_default();
        let mut id = self.id.unwrap_or_default();
        if id.is_empty() {
            id = name.clone();
        }
        if !id.is_empty() && name.is_empty() {
            return Err(refused(
                "Must provide service name (Service.Service) when service ID is provided",
            ));
        }
        let address = self.address.unwrap_or_default();
        if is_any_address(&address) {
            return Err(refused("Invalid service address"));
        }
        // Consul keeps the given weights only when valid, and uses 1/1 otherwise.
        let weights = match self.weights {
            Some(weights) => {
                let passing = weights.passing.unwrap_or(0);
                let warning = weights.warning.unwrap_or(0);
                if (1..=65535).contains(&passing) && (0..=65535).contains(&warning) {
                    catalog::Weights {
                        passing: passing as u32,
                        warning: warning as u32,
                    }
                } else {
                    catalog::Weights::default()
                }
            }
            None => catalog::Weights::default(),
        };
        let tagged_addresses = tagged_addresses(self.tagged_addresses);
        Ok(catalog::Service {
            node: node.into(),
            id: id.into(),
            name: name.into(),
            kind: self.kind.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            address,
            tagged_addresses,
            meta: self.meta.unwrap_or_default(),
            port: self.port.unwrap_or(0),
            socket_path: self.socket_path.unwrap_or_default(),
            weights,
            enable_tag_override: self.enable_tag_override.unwrap_or(false),
            indexes: Default::default(),
        })
    }
}

impl CheckBody {
    pub(crate) fn into_record(self, request_node: &str) -> Result<catalog::Check, ApiError> {
        let node = non_empty(self.node).unwrap_or_else(|| request_node.to_owned());
        let name = self.name.unwrap_or_default();
        let id = non_empty(self.check_id).unwrap_or_else(|| name.clone());
        if !node.eq_ignore_ascii_case(request_node) {
            return Err(refused(format!(
                "Node '{node}' for check '{id}' doesn't match register request node '{request_node}'"
            )));
        }
        if id.is_empty() {
            return Err(refused("Must provide check ID or name"));
        }
        // Consul stores a new check as critical until told otherwise.
        let status = match self.status.as_deref().unwrap_or("") {
            "" => Health::Critical,
            text => Health::parse(text).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "Request decode failed: invalid check status {text:?}"
                ))
            })?,
        };
        let body = self.definition.unwrap_or_default();
        let text = |value: Option<GoDuration>| value.map(GoDuration::text_or_empty);
        let definition = catalog::CheckDefinition {
            http: body.http.unwrap_or_default(),
            header: body.header.unwrap_or_default(),
            method: body.method.unwrap_or_default(),
            body: body.body.unwrap_or_default(),
            tls_server_name: body.tls_server_name.unwrap_or_default(),
            tls_skip_verify: body.tls_skip_verify.unwrap_or(false),
            tcp: body.tcp.unwrap_or_default(),
            udp: body.udp.unwrap_or_default(),
            grpc: body.grpc.unwrap_or_default(),
            grpc_use_tls: body.grpc_use_tls.unwrap_or(false),
            os_service: body.os_service.unwrap_or_default(),
            interval: text(body.interval)
                .or_else(|| text(self.interval))
                .unwrap_or_default(),
            timeout: text(body.timeout)
                .or_else(|| text(self.timeout))
                .unwrap_or_default(),
            deregister_critical_service_after: text(body.deregister_critical_service_after)
                .unwrap_or_default(),
        };
        // Consul derives a missing type from the definition, as its agents would set it.
        let check_type = non_empty(self.check_type).unwrap_or_else(|| {
            let kinds = [
                (!definition.http.is_empty(), "http"),
                (!definition.tcp.is_empty(), "tcp"),
                (!definition.udp.is_empty(), "udp"),
                (!definition.grpc.is_empty(), "grpc"),
                (!definition.os_service.is_empty(), "os_service"),
                (body.ttl.is_some_and(|ttl| ttl.0 > 0), "ttl"),
            ];
            let found = kinds.iter().find(|(present, _)| *present);
            found.map_or_else(String::new, |(_, kind)| (*kind).to_owned())
        });
        Ok(catalog::Check {
            node: node.into(),
            id: id.into(),
            name,
            status,
            notes: self.notes.unwrap_or_default(),
            output: self.output.unwrap_or_default(),
            service_id: self.service_id.unwrap_or_default().into(),
            service_name: self.service_name.unwrap_or_default().into(),
            service_tags: self.service_tags.unwrap_or_default(),
            check_type,
            exposed_port: self.exposed_port.unwrap_or(0),
            definition,
            indexes: Default::default(),
        })
    }
}

impl DeregisterBody {
    /// The datacenter to deregister in (`None`: the local one) and what goes.
    pub fn into_command(self) -> Result<(Option<Datacenter>, Deregistration), ApiError> {
        let target = datacenter(&self.datacenter);
        let node = non_empty(self.node).ok_or_else(|| refused("Must provide node"))?;
        let what = match (non_empty(self.service_id), non_empty(self.check_id)) {
            (Some(service), _) => Deregistration::Service(node.into(), service.into()),
            (None, Some(check)) => Deregistration::Check(node.into(), check.into()),
            (None, None) => Deregistration::Node(node.into()),
        };
        Ok((target, what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::json_body;

    fn register(body: &str) -> Result<Registration, ApiError> {
        let body: RegisterBody = json_body(body.as_bytes()).map_err(ApiError::from)?;
        body.into_command().map(|(_, registration)| registration)
    }

    #[test]
    fn py_consul_and_go_client_shapes_decode() {
        let go = register(
            r#"{"ID":"","Node":"n1","Address":"10.0.0.1","Datacenter":"","TaggedAddresses":null,
                "NodeMeta":{"Rack":"R1"},"Service":{"ID":"","Service":"web","Tags":null,"Port":80,
                "Weights":null},"Check":null,"Checks":null,"SkipNodeUpdate":false}"#,
        )
        .unwrap();
        assert_eq!(go.node.meta["Rack"], "R1");
        let service = go.service.unwrap();
        assert_eq!(service.id.as_str(), "web");
        assert_eq!(service.weights, catalog::Weights::default());
        assert!(go.checks.is_empty());

        let py = register(
            r#"{"node":"n2","address":"10.0.0.2","node_meta":{"k":"v"},
                "tagged_addresses":{"wan":"1.2.3.4"},
                "service":{"name":"db","id":"db-1","enable_tag_override":true,
                           "tagged_addresses":{"lan":{"address":"10.0.0.2","port":5432}}},
                "check":{"name":"alive","service_id":"db-1","status":"passing",
                         "definition":{"http":"http://x/","interval":"10s",
                                       "Header":{"X-Token":["a"]}}}}"#,
        )
        .unwrap();
        assert_eq!(py.node.tagged_addresses["wan"], "1.2.3.4");
        let service = py.service.unwrap();
        assert!(service.enable_tag_override);
        assert_eq!(service.tagged_addresses["lan"].port, 5432);
        let check = &py.checks[0];
        assert_eq!(check.id.as_str(), "alive");
        assert_eq!(check.status, Health::Passing);
        assert_eq!(check.check_type, "http");
        assert_eq!(check.definition.interval, "10s");
        assert_eq!(check.definition.header["X-Token"], ["a"]);
    }

    #[test]
    fn consul_refusals() {
        let text = |body: &str| register(body).unwrap_err().to_string();
        assert_eq!(text(r#"{"Address":"1.1.1.1"}"#), "Must provide node");
        assert_eq!(
            text(r#"{"Node":"n"}"#),
            "Must provide address if SkipNodeUpdate is not set"
        );
        assert!(register(r#"{"Node":"n","SkipNodeUpdate":true}"#).is_ok());
        assert_eq!(
            text(r#"{"Node":"n","Address":"a","ID":"nope"}"#),
            "Bad node ID: uuid string is wrong length"
        );
        assert_eq!(
            text(r#"{"Node":"n","Address":"a","Service":{"ID":"x"}}"#),
            "Must provide service name (Service.Service) when service ID is provided"
        );
        assert_eq!(
            text(r#"{"Node":"n","Address":"a","Service":{"Service":"x","Address":"0.0.0.0"}}"#),
            "Invalid service address"
        );
        assert!(
            text(r#"{"Node":"n","Address":"a","Check":{"Node":"m","Name":"c"}}"#)
                .starts_with("Node 'm' for check 'c' doesn't match")
        );
        assert!(register(
            r#"{"Node":"n","Address":"a","ID":"0b9d7b4e-2c3d-4d6e-9f00-1a2b3c4d5e6f"}"#
        )
        .is_ok());
    }

    #[test]
    fn new_checks_default_to_critical() {
        let registration =
            register(r#"{"Node":"n","Address":"a","Checks":[{"CheckID":"c"}]}"#).unwrap();
        assert_eq!(registration.checks[0].status, Health::Critical);
    }

    #[test]
    fn deregister_precedence() {
        let decode = |body: &str| {
            json_body::<DeregisterBody>(body.as_bytes())
                .unwrap()
                .into_command()
                .map(|(_, what)| what)
        };
        assert_eq!(
            decode(r#"{"Node":"n","ServiceID":"s","CheckID":"c"}"#).unwrap(),
            Deregistration::Service("n".into(), "s".into())
        );
        assert_eq!(
            decode(r#"{"node":"n","check_id":"c"}"#).unwrap(),
            Deregistration::Check("n".into(), "c".into())
        );
        assert_eq!(
            decode(r#"{"Node":"n","Address":"ignored"}"#).unwrap(),
            Deregistration::Node("n".into())
        );
        assert_eq!(decode("{}").unwrap_err().to_string(), "Must provide node");
    }
}
