//! `FakeLocal`: an in-memory `LocalAgent` for router tests. It keeps the endpoint-visible
//! rules (replace, replace-existing-checks, unknown-service refusals, maintenance checks,
//! TTL updates) but runs no checks and syncs nothing.

use crate::filter::literal::go_quote;
use crate::local::{CheckKind, CheckSpec, LocalAgent, LocalError, ServiceSpec, Source};
use legate_catalog::{self as catalog, CheckId, Health, ServiceId};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use tokio::sync::watch;

#[derive(Default)]
struct State {
    services: BTreeMap<ServiceId, catalog::Service>,
    checks: BTreeMap<CheckId, (catalog::Check, bool)>,
}

/// The fake's local state; `node` names every record.
pub struct FakeLocal {
    node: String,
    state: Mutex<State>,
    changes: watch::Sender<u64>,
}

impl FakeLocal {
    pub fn new(node: &str) -> FakeLocal {
        FakeLocal {
            node: node.to_owned(),
            state: Mutex::new(State::default()),
            changes: watch::channel(0).0,
        }
    }

    fn change<T>(
        &self,
        apply: impl FnOnce(&mut State) -> Result<T, LocalError>,
    ) -> Result<T, LocalError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let result = apply(&mut state)?;
        self.changes.send_modify(|count| *count += 1);
        Ok(result)
    }

    fn record(&self, spec: &CheckSpec, service: Option<&catalog::Service>) -> catalog::Check {
        catalog::Check {
            node: self.node.as_str().into(),
            id: spec.id.clone(),
            name: spec.name.clone(),
            status: spec.status,
            notes: spec.notes.clone(),
            service_id: spec.service_id.clone(),
            service_name: service.map(|s| s.name.clone()).unwrap_or_default(),
            service_tags: service.map(|s| s.tags.clone()).unwrap_or_default(),
            check_type: spec.kind.type_name().to_owned(),
            definition: spec.definition(),
            ..catalog::Check::default()
        }
    }

    fn maintenance_check(
        &self,
        id: &str,
        name: &str,
        notes: String,
        service: Option<&catalog::Service>,
    ) -> catalog::Check {
        catalog::Check {
            node: self.node.as_str().into(),
            id: id.into(),
            name: name.into(),
            status: Health::Critical,
            notes,
            service_id: service.map(|s| s.id.clone()).unwrap_or_default(),
            service_name: service.map(|s| s.name.clone()).unwrap_or_default(),
            check_type: "maintenance".into(),
            ..catalog::Check::default()
        }
    }
}

impl LocalAgent for FakeLocal {
    async fn register_service(
        &self,
        spec: ServiceSpec,
        replace_existing_checks: bool,
        _source: Source,
    ) -> Result<(), LocalError> {
        self.change(|state| {
            let mut service = spec.service;
            service.node = self.node.as_str().into();
            if replace_existing_checks {
                let keep: Vec<&CheckId> = spec.checks.iter().map(|check| &check.id).collect();
                state
                    .checks
                    .retain(|id, (check, _)| check.service_id != service.id || keep.contains(&id));
            }
            for check in &spec.checks {
                let ttl = matches!(check.kind, CheckKind::Ttl(_));
                state
                    .checks
                    .insert(check.id.clone(), (self.record(check, Some(&service)), ttl));
            }
            state.services.insert(service.id.clone(), service);
            Ok(())
        })
    }

    async fn deregister_service(&self, id: ServiceId) -> Result<(), LocalError> {
        self.change(|state| {
            state.services.remove(&id);
            state.checks.retain(|_, (check, _)| check.service_id != id);
            Ok(())
        })
    }

    async fn register_check(&self, spec: CheckSpec, _source: Source) -> Result<(), LocalError> {
        self.change(|state| {
            let service = if spec.service_id.as_str().is_empty() {
                None
            } else {
                let found = state.services.get(&spec.service_id).cloned();
                Some(found.ok_or_else(|| {
                    LocalError::NotFound(format!(
                        "ServiceID {} does not exist",
                        go_quote(spec.service_id.as_str())
                    ))
                })?)
            };
            let ttl = matches!(spec.kind, CheckKind::Ttl(_));
            state
                .checks
                .insert(spec.id.clone(), (self.record(&spec, service.as_ref()), ttl));
            Ok(())
        })
    }

    async fn deregister_check(&self, id: CheckId) -> Result<(), LocalError> {
        self.change(|state| {
            state.checks.remove(&id);
            Ok(())
        })
    }

    async fn update_ttl(
        &self,
        id: CheckId,
        status: Health,
        output: String,
    ) -> Result<(), LocalError> {
        self.change(|state| match state.checks.get_mut(&id) {
            Some((check, true)) => {
                check.status = status;
                check.output = output;
                Ok(())
            }
            _ => Err(LocalError::NotFound(format!(
                "CheckID {:?} does not have associated TTL",
                id.as_str()
            ))),
        })
    }

    async fn service_maintenance(
        &self,
        id: ServiceId,
        enable: bool,
        reason: String,
    ) -> Result<(), LocalError> {
        self.change(|state| {
            let service = state.services.get(&id).cloned().ok_or_else(|| {
                LocalError::NotFound(format!("No service registered with ID {:?}", id.as_str()))
            })?;
            let check_id = CheckId::new(format!("_service_maintenance:{id}"));
            if enable {
                let check = self.maintenance_check(
                    check_id.as_str(),
                    "Service Maintenance Mode",
                    reason,
                    Some(&service),
                );
                state.checks.entry(check_id).or_insert((check, false));
            } else {
                state.checks.remove(&check_id);
            }
            Ok(())
        })
    }

    async fn node_maintenance(&self, enable: bool, reason: String) -> Result<(), LocalError> {
        self.change(|state| {
            let check_id = CheckId::new("_node_maintenance");
            if enable {
                let check = self.maintenance_check(
                    check_id.as_str(),
                    "Node Maintenance Mode",
                    reason,
                    None,
                );
                state.checks.entry(check_id).or_insert((check, false));
            } else {
                state.checks.remove(&check_id);
            }
            Ok(())
        })
    }

    fn services(&self) -> Vec<catalog::Service> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.services.values().cloned().collect()
    }

    fn checks(&self) -> Vec<catalog::Check> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .checks
            .values()
            .map(|(check, _)| check.clone())
            .collect()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
