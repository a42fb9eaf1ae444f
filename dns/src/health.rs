//! Which instances DNS may name, and the SRV weight of each.
//!
//! Consul's rules (`structs.CheckServiceNodes.Filter`, `api.HealthChecks.AggregatedStatus`,
//! `agent/dns.go` `findWeight`):
//! - An instance with any critical check, node checks included (`serfHealth`, maintenance),
//!   is left out. A warning check keeps it, unless `only_passing` is set.
//! - The SRV weight is `Weights.Passing` or `Weights.Warning` by the aggregated status,
//!   where maintenance beats critical beats warning beats passing, and no checks at all
//!   count as passing.
//! - The tag filter compares case-insensitively.

use legate_catalog::query::Instance;
use legate_catalog::Health;

const NODE_MAINTENANCE: &str = "_node_maintenance";
const SERVICE_MAINTENANCE_PREFIX: &str = "_service_maintenance:";

/// Whether DNS may name this instance.
pub fn is_healthy(instance: &Instance, only_passing: bool) -> bool {
    instance.checks.iter().all(|check| match check.status {
        Health::Critical => false,
        Health::Warning => !only_passing,
        Health::Passing => true,
    })
}

/// Whether the instance carries `tag` (case-insensitively); no tag keeps everything.
pub fn has_tag(instance: &Instance, tag: Option<&str>) -> bool {
    tag.is_none_or(|tag| {
        instance
            .service
            .tags
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tag))
    })
}

/// The instances a service question may answer with, in the order given. Borrowed, so that
/// answering (and shuffling) does not copy every instance's node, service and checks.
pub fn select<'a>(
    instances: &'a [Instance],
    tag: Option<&str>,
    only_passing: bool,
) -> Vec<&'a Instance> {
    instances
        .iter()
        .filter(|instance| has_tag(instance, tag) && is_healthy(instance, only_passing))
        .collect()
}

/// The aggregated status of a set of checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregated {
    Passing,
    Warning,
    Critical,
    Maintenance,
}

pub fn aggregated_status(instance: &Instance) -> Aggregated {
    let (mut warning, mut critical, mut maintenance) = (false, false, false);
    for check in &instance.checks {
        let id = check.id.as_str();
        if id == NODE_MAINTENANCE || id.starts_with(SERVICE_MAINTENANCE_PREFIX) {
            maintenance = true;
            continue;
        }
        match check.status {
            Health::Passing => {}
            Health::Warning => warning = true,
            Health::Critical => critical = true,
        }
    }
    if maintenance {
        Aggregated::Maintenance
    } else if critical {
        Aggregated::Critical
    } else if warning {
        Aggregated::Warning
    } else {
        Aggregated::Passing
    }
}

/// The SRV weight of an instance: its `Weights` entry for its status, 0 for instances that
/// should not have been selected at all.
pub fn srv_weight(instance: &Instance) -> u16 {
    let weights = instance.service.weights;
    let weight = match aggregated_status(instance) {
        Aggregated::Passing => weights.passing,
        Aggregated::Warning => weights.warning,
        Aggregated::Critical | Aggregated::Maintenance => 0,
    };
    // Consul converts with a plain uint16 cast; saturating is kinder and registration
    // validation keeps real weights far below the limit anyway.
    u16::try_from(weight).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_catalog::{Check, CheckId, Node, NodeName, Service, Weights};

    fn instance(statuses: &[(&str, Health)]) -> Instance {
        Instance {
            node: Node {
                name: NodeName::new("n1"),
                ..Node::default()
            },
            service: Service {
                tags: vec!["Primary".into()],
                weights: Weights {
                    passing: 10,
                    warning: 3,
                },
                ..Service::default()
            },
            checks: statuses
                .iter()
                .map(|(id, status)| Check {
                    id: CheckId::new(*id),
                    status: *status,
                    ..Check::default()
                })
                .collect(),
        }
    }

    #[test]
    fn critical_anywhere_excludes() {
        let node_down = instance(&[("serfHealth", Health::Critical), ("svc", Health::Passing)]);
        assert!(!is_healthy(&node_down, false));
        let service_down = instance(&[("serfHealth", Health::Passing), ("svc", Health::Critical)]);
        assert!(!is_healthy(&service_down, false));
    }

    #[test]
    fn warning_is_kept_unless_only_passing() {
        let warn = instance(&[("serfHealth", Health::Passing), ("svc", Health::Warning)]);
        assert!(is_healthy(&warn, false));
        assert!(!is_healthy(&warn, true));
        assert!(is_healthy(&instance(&[]), true));
    }

    #[test]
    fn weights_follow_aggregated_status() {
        assert_eq!(srv_weight(&instance(&[("a", Health::Passing)])), 10);
        assert_eq!(
            srv_weight(&instance(&[("a", Health::Passing), ("b", Health::Warning)])),
            3
        );
        assert_eq!(srv_weight(&instance(&[])), 10);
        assert_eq!(
            srv_weight(&instance(&[("_node_maintenance", Health::Passing)])),
            0
        );
    }

    #[test]
    fn tags_match_case_insensitively() {
        let i = instance(&[]);
        assert!(has_tag(&i, Some("primary")));
        assert!(has_tag(&i, None));
        assert!(!has_tag(&i, Some("secondary")));
        let all = [i];
        assert_eq!(select(&all, Some("PRIMARY"), false).len(), 1);
        assert_eq!(select(&all, Some("other"), false).len(), 0);
    }
}
