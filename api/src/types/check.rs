//! `HealthCheck` and `ServiceEntry` (an instance with its node and checks).

use crate::decode::null_as_default;
use crate::types::node::Node;
use crate::types::service::AgentService;
use legate_catalog as catalog;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a check probes. Consul omits the empty fields, but always prints the three
/// durations, as Go's `Duration.String` does for zero (`"0s"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    pub interval: String,
    pub timeout: String,
    pub deregister_critical_service_after: String,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn or_zero(duration: &str) -> String {
    if duration.is_empty() {
        "0s".to_owned()
    } else {
        duration.to_owned()
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
            interval: or_zero(&definition.interval),
            timeout: or_zero(&definition.timeout),
            deregister_critical_service_after: or_zero(
                &definition.deregister_critical_service_after,
            ),
        }
    }
}

/// One health check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceEntry {
    pub node: Node,
    pub service: AgentService,
    #[serde(deserialize_with = "null_as_default")]
    pub checks: Vec<HealthCheck>,
}

impl ServiceEntry {
    pub fn from_instance(instance: &catalog::query::Instance, datacenter: &str) -> ServiceEntry {
        ServiceEntry {
            node: Node::from_record(&instance.node, datacenter),
            service: AgentService::from_record(&instance.service, datacenter),
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
            json!({"HTTP":"http://x/","Interval":"10s","Timeout":"0s",
                   "DeregisterCriticalServiceAfter":"0s"})
        );
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
