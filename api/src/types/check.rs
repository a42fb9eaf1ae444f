//! `HealthCheck` and `ServiceEntry` (an instance with its node and checks).

use crate::decode::null_as_default;
use crate::duration;
use crate::types::node::Node;
use crate::types::node_service::NodeService;
use legate_catalog as catalog;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a check probes: Consul's `structs.HealthCheckDefinition`, whose fields are all
/// `omitempty`. Its `MarshalJSON` writes the durations with Go's `Duration.String` and
/// blanks the zero ones first, so an unset duration is left out too (the client's
/// `api.HealthCheckDefinition` would print `"0s"`, but that is not what the server sends).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct CheckDefinition {
    #[serde(rename = "HTTP", skip_serializing_if = "String::is_empty")]
    pub http: String,
    #[serde(rename = "TLSServerName", skip_serializing_if = "String::is_empty")]
    pub tls_server_name: String,
    #[serde(rename = "TLSSkipVerify", skip_serializing_if = "is_false")]
    pub tls_skip_verify: bool,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub header: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub method: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body: String,
    #[serde(rename = "TCP", skip_serializing_if = "String::is_empty")]
    pub tcp: String,
    #[serde(rename = "UDP", skip_serializing_if = "String::is_empty")]
    pub udp: String,
    #[serde(rename = "GRPC", skip_serializing_if = "String::is_empty")]
    pub grpc: String,
    #[serde(rename = "GRPCUseTLS", skip_serializing_if = "is_false")]
    pub grpc_use_tls: bool,
    #[serde(rename = "OSService", skip_serializing_if = "String::is_empty")]
    pub os_service: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub interval: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub timeout: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deregister_critical_service_after: String,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A stored duration as Consul writes it: Go's `Duration.String` (`"1m0s"` for `"60s"`),
/// or empty for zero. Text that does not parse (nothing the register paths accept) is shown
/// as stored rather than dropped.
fn go_duration(text: &str) -> String {
    match duration::parse(text) {
        Ok(0) => String::new(),
        Ok(nanos) => duration::format(nanos),
        Err(_) => text.to_owned(),
    }
}

impl From<&catalog::CheckDefinition> for CheckDefinition {
    fn from(definition: &catalog::CheckDefinition) -> Self {
        CheckDefinition {
            http: definition.http.clone(),
            tls_server_name: definition.tls_server_name.clone(),
            tls_skip_verify: definition.tls_skip_verify,
            header: definition.header.clone(),
            method: definition.method.clone(),
            body: definition.body.clone(),
            tcp: definition.tcp.clone(),
            udp: definition.udp.clone(),
            grpc: definition.grpc.clone(),
            grpc_use_tls: definition.grpc_use_tls,
            os_service: definition.os_service.clone(),
            interval: go_duration(&definition.interval),
            timeout: go_duration(&definition.timeout),
            deregister_critical_service_after: go_duration(
                &definition.deregister_critical_service_after,
            ),
        }
    }
}

/// One health check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthCheck {
    pub node: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    pub name: String,
    /// `passing`, `warning` or `critical`.
    pub status: String,
    pub notes: String,
    pub output: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub service_tags: Vec<String>,
    #[serde(rename = "Type")]
    pub check_type: String,
    /// The definition's interval and timeout, repeated at the top as Consul does.
    pub interval: String,
    pub timeout: String,
    pub exposed_port: u16,
    pub definition: CheckDefinition,
    pub create_index: u64,
    pub modify_index: u64,
}

impl From<&catalog::Check> for HealthCheck {
    fn from(check: &catalog::Check) -> Self {
        HealthCheck {
            node: check.node.to_string(),
            check_id: check.id.to_string(),
            name: check.name.clone(),
            status: check.status.as_str().to_owned(),
            notes: check.notes.clone(),
            output: check.output.clone(),
            service_id: check.service_id.to_string(),
            service_name: check.service_name.to_string(),
            service_tags: check.service_tags.clone(),
            check_type: check.check_type.clone(),
            interval: check.definition.interval.clone(),
            timeout: check.definition.timeout.clone(),
            exposed_port: check.exposed_port,
            definition: (&check.definition).into(),
            create_index: check.indexes.create_index.0,
            modify_index: check.indexes.modify_index.0,
        }
    }
}

/// One instance with its node and checks (`/v1/health/service/:name`). `Checks` holds the
/// node's checks first, then the instance's own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceEntry {
    pub node: Node,
    pub service: NodeService,
    #[serde(deserialize_with = "null_as_default")]
    pub checks: Vec<HealthCheck>,
}

impl ServiceEntry {
    pub fn from_instance(instance: &catalog::query::Instance, datacenter: &str) -> ServiceEntry {
        ServiceEntry {
            node: Node::from_record(&instance.node, datacenter),
            service: NodeService::from(&instance.service),
            checks: instance.checks.iter().map(HealthCheck::from).collect(),
        }
    }

    /// The worst status among the checks (`passing` when there are none), as the Go
    /// client's `AggregatedStatus` computes it without maintenance checks.
    pub fn aggregated_status(&self) -> &'static str {
        let statuses = self.checks.iter().map(|check| check.status.as_str());
        let mut worst = "passing";
        for status in statuses {
            match status {
                "critical" => return "critical",
                "warning" => worst = "warning",
                _ => {}
            }
        }
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn health_check_shape() {
        let record = catalog::Check {
            node: "n1".into(),
            id: "c1".into(),
            name: "probe".into(),
            status: catalog::Health::Passing,
            definition: catalog::CheckDefinition {
                http: "http://x/".into(),
                interval: "10s".into(),
                ..catalog::CheckDefinition::default()
            },
            ..catalog::Check::default()
        };
        let value = serde_json::to_value(HealthCheck::from(&record)).unwrap();
        assert_eq!(value["CheckID"], "c1");
        assert_eq!(value["Status"], "passing");
        assert_eq!(value["ServiceTags"], json!([]));
        assert_eq!(value["Interval"], "10s");
        assert_eq!(value["Timeout"], "");
        assert_eq!(
            value["Definition"],
            json!({"HTTP":"http://x/","Interval":"10s"})
        );
    }

    #[test]
    fn definition_durations_are_go_formatted_and_zero_ones_omitted() {
        let definition = catalog::CheckDefinition {
            tcp: "10.0.0.1:80".into(),
            interval: "90s".into(),
            timeout: "0s".into(),
            deregister_critical_service_after: "1h".into(),
            ..catalog::CheckDefinition::default()
        };
        assert_eq!(
            serde_json::to_value(CheckDefinition::from(&definition)).unwrap(),
            json!({"TCP":"10.0.0.1:80","Interval":"1m30s",
                   "DeregisterCriticalServiceAfter":"1h0m0s"})
        );
        let ttl = CheckDefinition::from(&catalog::CheckDefinition::default());
        assert_eq!(serde_json::to_value(ttl).unwrap(), json!({}));
    }

    #[test]
    fn aggregated_status_takes_the_worst() {
        let check = |status: &str| HealthCheck {
            status: status.into(),
            ..HealthCheck::default()
        };
        let mut entry = ServiceEntry::default();
        assert_eq!(entry.aggregated_status(), "passing");
        entry.checks = vec![check("passing"), check("warning")];
        assert_eq!(entry.aggregated_status(), "warning");
        entry.checks.push(check("critical"));
        assert_eq!(entry.aggregated_status(), "critical");
    }
}
