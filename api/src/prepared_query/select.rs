//! Which instances a prepared query answers with, and in what order (Consul's
//! `PreparedQuery.execute`, pure).
//!
//! Rules:
//! 1. Health: an instance with a critical check is out; with `OnlyPassing` one with a
//!    warning is out too. Checks named in `IgnoreCheckIDs` do not count.
//! 2. Tags: every tag must be on the instance (case-insensitively); a tag written `!tag`
//!    must not be.
//! 3. `NodeMeta` and `ServiceMeta`: every pair must match exactly.
//! 4. Order: by round trip from the `near` node when it has a coordinate, shuffled
//!    otherwise (so that DNS and HTTP clients spread their load); then `limit`.

use super::definition::ServiceDef;
use crate::near;
use legate_catalog::query::Instance;
use legate_catalog::{Coord, Health};
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::HashMap;

/// Rules 1–3.
pub fn filter(instances: Vec<Instance>, service: &ServiceDef) -> Vec<Instance> {
    instances
        .into_iter()
        .filter(|instance| healthy(instance, service) && tagged(instance, service))
        .filter(|instance| {
            contains(&instance.node.meta, &service.node_meta)
                && contains(&instance.service.meta, &service.service_meta)
        })
        .collect()
}

fn healthy(instance: &Instance, service: &ServiceDef) -> bool {
    instance
        .checks
        .iter()
        .filter(|check| {
            !service
                .ignore_check_ids
                .iter()
                .any(|ignored| ignored.eq_ignore_ascii_case(check.id.as_str()))
        })
        .all(|check| match check.status {
            Health::Critical => false,
            Health::Warning => !service.only_passing,
            Health::Passing => true,
        })
}

fn tagged(instance: &Instance, service: &ServiceDef) -> bool {
    let has = |tag: &str| {
        instance
            .service
            .tags
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tag))
    };
    service.tags.iter().all(|tag| match tag.strip_prefix('!') {
        Some(excluded) => !has(excluded),
        None => has(tag),
    })
}

fn contains(
    have: &std::collections::BTreeMap<String, String>,
    want: &std::collections::BTreeMap<String, String>,
) -> bool {
    want.iter().all(|(key, value)| have.get(key) == Some(value))
}

/// Rule 4. `near` is the origin node and the datacenter's coordinates, when sorting.
pub fn order(
    instances: &mut Vec<Instance>,
    near: Option<(&str, &HashMap<String, Coord>)>,
    limit: Option<usize>,
    rng: &mut impl Rng,
) {
    instances.shuffle(rng);
    if let Some((origin, coords)) = near {
        // Stable: nodes equally far (or all without a coordinate) stay shuffled.
        near::order(instances, origin, coords, |instance| {
            instance.node.name.as_str()
        });
    }
    if let Some(limit) = limit {
        instances.truncate(limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_catalog::{Check, Node, Service};
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    fn instance(node: &str, tags: &[&str], checks: &[(&str, Health)]) -> Instance {
        Instance {
            node: Node {
                name: node.into(),
                meta: BTreeMap::from([("rack".to_owned(), format!("r-{node}"))]),
                ..Node::default()
            },
            service: Service {
                name: "web".into(),
                node: node.into(),
                tags: tags.iter().map(|tag| tag.to_string()).collect(),
                meta: BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
                ..Service::default()
            },
            checks: checks
                .iter()
                .map(|(id, status)| Check {
                    id: (*id).into(),
                    node: node.into(),
                    status: *status,
                    ..Check::default()
                })
                .collect(),
        }
    }

    fn nodes(instances: &[Instance]) -> Vec<&str> {
        instances.iter().map(|i| i.node.name.as_str()).collect()
    }

    #[test]
    fn health_tags_and_meta_filter_as_consul_does() {
        let all = vec![
            instance("ok", &["v1"], &[("serfHealth", Health::Passing)]),
            instance("warn", &["v1"], &[("c", Health::Warning)]),
            instance("crit", &["v1"], &[("c", Health::Critical)]),
            instance("ignored", &["v1"], &[("flaky", Health::Critical)]),
            instance("canary", &["v1", "Canary"], &[]),
        ];
        let mut service = ServiceDef {
            ignore_check_ids: vec!["FLAKY".into()],
            ..ServiceDef::default()
        };
        assert_eq!(
            nodes(&filter(all.clone(), &service)),
            ["ok", "warn", "ignored", "canary"]
        );
        service.only_passing = true;
        service.tags = vec!["V1".into(), "!canary".into()];
        assert_eq!(nodes(&filter(all.clone(), &service)), ["ok", "ignored"]);
        service.node_meta = BTreeMap::from([("rack".to_owned(), "r-ok".to_owned())]);
        assert_eq!(nodes(&filter(all.clone(), &service)), ["ok"]);
        service.node_meta.clear();
        service.service_meta = BTreeMap::from([("env".to_owned(), "dev".to_owned())]);
        assert!(filter(all, &service).is_empty());
    }

    #[test]
    fn near_sorts_otherwise_shuffled_then_limited() {
        let at = |x: f64| Coord {
            vec: vec![x, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            ..Coord::default()
        };
        let coords = HashMap::from([
            ("a".to_owned(), at(0.0)),
            ("b".to_owned(), at(0.2)),
            ("c".to_owned(), at(0.1)),
        ]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut list = vec![
            instance("a", &[], &[]),
            instance("b", &[], &[]),
            instance("c", &[], &[]),
        ];
        order(&mut list, Some(("a", &coords)), Some(2), &mut rng);
        assert_eq!(nodes(&list), ["a", "c"]);
        // Without `near`, every order shows up.
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let mut list = vec![
                instance("a", &[], &[]),
                instance("b", &[], &[]),
                instance("c", &[], &[]),
            ];
            order(&mut list, None, None, &mut rng);
            seen.insert(nodes(&list).join(","));
        }
        assert_eq!(seen.len(), 6);
    }
}
