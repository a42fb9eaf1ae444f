//! `Tables`: the host agent's services and checks, and the rules that change them.
//!
//! Pure: no I/O, no clock. Time arrives as `now` (milliseconds on the agent's monotonic
//! clock) where a rule needs it, and the caller (`state`) turns the returned effects into
//! runner starts and stops, persistence and syncs. The rules are Consul's `agent.AddService`,
//! `RemoveService`, `AddCheck`, `updateTTLCheck` and the maintenance helpers.

use super::check::cut;
use legate_api::filter::literal::go_quote;
use legate_api::local::{CheckKind, CheckSpec, LocalError, ServiceSpec, Source};
use legate_catalog::{self as catalog, CheckId, Health, NodeName, ServiceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Consul's ID of the node maintenance check.
pub const NODE_MAINTENANCE: &str = "_node_maintenance";
/// Prefix of a service's maintenance check ID.
pub const SERVICE_MAINTENANCE_PREFIX: &str = "_service_maintenance:";
const NODE_MAINTENANCE_REASON: &str =
    "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.";
const SERVICE_MAINTENANCE_REASON: &str =
    "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";

/// A local service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalService {
    /// The instance, with this agent's node name.
    pub service: catalog::Service,
    pub source: Source,
}

/// A local check: its definition (none for maintenance checks, which never run) and its
/// current record (status and output included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCheck {
    pub spec: Option<CheckSpec>,
    pub record: catalog::Check,
    pub source: Source,
    /// Since when (agent clock, ms) the check has been critical, for
    /// `DeregisterCriticalServiceAfter`.
    #[serde(skip)]
    pub critical_since: Option<u64>,
}

impl LocalCheck {
    pub fn is_ttl(&self) -> bool {
        matches!(
            self.spec.as_ref().map(|spec| &spec.kind),
            Some(CheckKind::Ttl(_))
        )
    }
}

/// What a change did, for the shell to act on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Checks whose runners must (re)start with these definitions.
    pub start: Vec<CheckSpec>,
    /// Checks whose runners must stop (removed or replaced).
    pub stop: Vec<CheckId>,
    /// Whether anything changed at all.
    pub changed: bool,
}

/// How a status report changed a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// Nothing (same status and output, or an unknown check).
    None,
    /// Only the output: synced at most every `check_update_interval`.
    Output,
    /// The status: synced at once.
    Status,
}

/// The agent's services and checks.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    pub node: NodeName,
    pub services: BTreeMap<ServiceId, LocalService>,
    pub checks: BTreeMap<CheckId, LocalCheck>,
}

/// The reason given, or Consul's default note when none was.
fn or_default(reason: String, default: &str) -> String {
    if reason.is_empty() {
        default.to_owned()
    } else {
        reason
    }
}

impl Tables {
    pub fn new(node: NodeName) -> Tables {
        Tables {
            node,
            ..Tables::default()
        }
    }

    fn record(&self, spec: &CheckSpec, service: Option<&catalog::Service>) -> catalog::Check {
        catalog::Check {
            node: self.node.clone(),
            id: spec.id.clone(),
            name: spec.name.clone(),
            status: spec.status,
            notes: spec.notes.clone(),
            output: String::new(),
            service_id: spec.service_id.clone(),
            service_name: service.map(|s| s.name.clone()).unwrap_or_default(),
            service_tags: service.map(|s| s.tags.clone()).unwrap_or_default(),
            check_type: spec.kind.type_name().to_owned(),
            exposed_port: 0,
            definition: spec.definition(),
            indexes: Default::default(),
        }
    }

    /// Inserts a check; an existing check with the same ID keeps its status and output when
    /// the new definition gives no explicit status change, as Consul keeps a re-registered
    /// check's state.
    fn put_check(&mut self, spec: CheckSpec, source: Source, effects: &mut Effects, now: u64) {
        let service = self
            .services
            .get(&spec.service_id)
            .map(|s| s.service.clone());
        let mut record = self.record(&spec, service.as_ref());
        if let Some(old) = self.checks.get(&spec.id) {
            if old.spec.as_ref() == Some(&spec) {
                return;
            }
            record.output = old.record.output.clone();
            effects.stop.push(spec.id.clone());
        }
        let critical_since = (record.status == Health::Critical).then_some(now);
        effects.start.push(spec.clone());
        effects.changed = true;
        self.checks.insert(
            spec.id.clone(),
            LocalCheck {
                spec: Some(spec),
                record,
                source,
                critical_since,
            },
        );
    }

    /// Rule: a re-registered service replaces the old one; its checks stay unless
    /// `replace_existing_checks`.
    pub fn add_service(
        &mut self,
        spec: ServiceSpec,
        replace_existing_checks: bool,
        source: Source,
        now: u64,
    ) -> Effects {
        let mut effects = Effects::default();
        let mut service = spec.service;
        service.node = self.node.clone();
        let id = service.id.clone();
        let local = LocalService {
            service: service.clone(),
            source,
        };
        if self.services.get(&id) != Some(&local) {
            effects.changed = true;
            self.services.insert(id.clone(), local);
        }
        if replace_existing_checks {
            let keep: Vec<CheckId> = spec.checks.iter().map(|check| check.id.clone()).collect();
            self.remove_checks_where(&mut effects, |check_id, check| {
                check.record.service_id == id && check.spec.is_some() && !keep.contains(check_id)
            });
        }
        // The service's name and tags are denormalised into its checks.
        for check in self.checks.values_mut() {
            if check.record.service_id == id {
                check.record.service_name = service.name.clone();
                check.record.service_tags = service.tags.clone();
            }
        }
        for check in spec.checks {
            self.put_check(check, source, &mut effects, now);
        }
        effects
    }

    /// Removes a service and every check on it (maintenance included).
    pub fn remove_service(&mut self, id: &ServiceId) -> Effects {
        let mut effects = Effects::default();
        if self.services.remove(id).is_some() {
            effects.changed = true;
        }
        self.remove_checks_where(&mut effects, |_, check| check.record.service_id == *id);
        effects
    }

    /// Removes every check `doomed` picks, noting each runner to stop.
    fn remove_checks_where(
        &mut self,
        effects: &mut Effects,
        doomed: impl Fn(&CheckId, &LocalCheck) -> bool,
    ) {
        self.checks.retain(|check_id, check| {
            let gone = doomed(check_id, check);
            if gone {
                effects.stop.push(check_id.clone());
                effects.changed = true;
            }
            !gone
        });
    }

    /// Adds or replaces a standalone check; its service must exist. Consul refuses one that
    /// names an unknown `ServiceID` with `ServiceID "<id>" does not exist` (Go's `%q`), a
    /// 404 from `PUT /v1/agent/check/register` (`AgentRegisterCheck`) and an error for a
    /// config-file check (`addCheckLocked`).
    pub fn add_check(
        &mut self,
        spec: CheckSpec,
        source: Source,
        now: u64,
    ) -> Result<Effects, LocalError> {
        if !spec.service_id.as_str().is_empty() && !self.services.contains_key(&spec.service_id) {
            return Err(LocalError::NotFound(format!(
                "ServiceID {} does not exist",
                go_quote(spec.service_id.as_str())
            )));
        }
        let mut effects = Effects::default();
        self.put_check(spec, source, &mut effects, now);
        Ok(effects)
    }

    pub fn remove_check(&mut self, id: &CheckId) -> Effects {
        let mut effects = Effects::default();
        if self.checks.remove(id).is_some() {
            effects.stop.push(id.clone());
            effects.changed = true;
        }
        effects
    }

    /// Records a check result (from a runner or a TTL update); the output is cut to the
    /// check's `OutputMaxSize`.
    pub fn set_status(&mut self, id: &CheckId, status: Health, output: String, now: u64) -> Update {
        let Some(check) = self.checks.get_mut(id) else {
            return Update::None;
        };
        let max = check
            .spec
            .as_ref()
            .map_or(legate_api::local::DEFAULT_OUTPUT_MAX_SIZE, |spec| {
                spec.output_max_size
            });
        let output = cut(output, max);
        let record = &mut check.record;
        if record.status == status && record.output == output {
            return Update::None;
        }
        let update = if record.status == status {
            Update::Output
        } else {
            Update::Status
        };
        if status == Health::Critical {
            check.critical_since.get_or_insert(now);
        } else {
            check.critical_since = None;
        }
        record.status = status;
        record.output = output;
        update
    }

    /// A TTL update: `NotFound` unless `id` is a TTL check.
    pub fn update_ttl(
        &mut self,
        id: &CheckId,
        status: Health,
        output: String,
        now: u64,
    ) -> Result<Update, LocalError> {
        if !self.checks.get(id).is_some_and(LocalCheck::is_ttl) {
            return Err(LocalError::NotFound(format!(
                "CheckID {:?} does not have associated TTL",
                id.as_str()
            )));
        }
        Ok(self.set_status(id, status, output, now))
    }

    fn maintenance_check(
        &self,
        id: CheckId,
        name: &str,
        notes: String,
        service: Option<&catalog::Service>,
    ) -> LocalCheck {
        LocalCheck {
            spec: None,
            record: catalog::Check {
                node: self.node.clone(),
                id,
                name: name.to_owned(),
                status: Health::Critical,
                notes,
                service_id: service.map(|s| s.id.clone()).unwrap_or_default(),
                service_name: service.map(|s| s.name.clone()).unwrap_or_default(),
                service_tags: service.map(|s| s.tags.clone()).unwrap_or_default(),
                check_type: "maintenance".to_owned(),
                ..catalog::Check::default()
            },
            source: Source::ConfigFile,
            critical_since: None,
        }
    }

    /// Adds (`enable`) or removes a maintenance check; an existing one is kept as it is.
    fn set_maintenance(
        &mut self,
        check_id: CheckId,
        enable: bool,
        make: impl FnOnce(&Self) -> LocalCheck,
    ) -> Effects {
        let mut effects = Effects::default();
        if enable {
            if !self.checks.contains_key(&check_id) {
                let check = make(self);
                self.checks.insert(check_id, check);
                effects.changed = true;
            }
        } else if self.checks.remove(&check_id).is_some() {
            effects.changed = true;
        }
        effects
    }

    /// Enables or disables a service's maintenance check.
    pub fn service_maintenance(
        &mut self,
        id: &ServiceId,
        enable: bool,
        reason: String,
    ) -> Result<Effects, LocalError> {
        let service = self
            .services
            .get(id)
            .map(|s| s.service.clone())
            .ok_or_else(|| {
                LocalError::NotFound(format!("No service registered with ID {:?}", id.as_str()))
            })?;
        let check_id = CheckId::new(format!("{SERVICE_MAINTENANCE_PREFIX}{id}"));
        let notes = or_default(reason, SERVICE_MAINTENANCE_REASON);
        Ok(self.set_maintenance(check_id.clone(), enable, |tables| {
            tables.maintenance_check(check_id, "Service Maintenance Mode", notes, Some(&service))
        }))
    }

    /// Enables or disables the node's maintenance check.
    pub fn node_maintenance(&mut self, enable: bool, reason: String) -> Effects {
        let check_id = CheckId::new(NODE_MAINTENANCE);
        let notes = or_default(reason, NODE_MAINTENANCE_REASON);
        self.set_maintenance(check_id.clone(), enable, |tables| {
            tables.maintenance_check(check_id, "Node Maintenance Mode", notes, None)
        })
    }

    /// Services whose check has been critical longer than its
    /// `DeregisterCriticalServiceAfter` (never less than `minimum`), as of `now`.
    pub fn reapable(&self, now: u64, minimum_ms: u64) -> Vec<ServiceId> {
        let mut due: Vec<ServiceId> = self
            .checks
            .values()
            .filter_map(|check| {
                let spec = check.spec.as_ref()?;
                let after = spec.deregister_critical_service_after?;
                let after_ms = (after.as_millis() as u64).max(minimum_ms);
                let since = check.critical_since?;
                let service = &check.record.service_id;
                (!service.as_str().is_empty() && now.saturating_sub(since) >= after_ms)
                    .then(|| service.clone())
            })
            .collect();
        due.dedup();
        due
    }

    /// Adopts the catalog's tags for a service with `EnableTagOverride`.
    pub fn adopt_tags(&mut self, id: &ServiceId, tags: Vec<String>) -> bool {
        let Some(local) = self.services.get_mut(id) else {
            return false;
        };
        if !local.service.enable_tag_override || local.service.tags == tags {
            return false;
        }
        local.service.tags = tags.clone();
        for check in self.checks.values_mut() {
            if check.record.service_id == *id {
                check.record.service_tags = tags.clone();
            }
        }
        true
    }

    pub fn services(&self) -> Vec<catalog::Service> {
        self.services.values().map(|s| s.service.clone()).collect()
    }

    pub fn checks(&self) -> Vec<catalog::Check> {
        self.checks.values().map(|c| c.record.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ttl_check(id: &str, service: &str) -> CheckSpec {
        CheckSpec {
            id: id.into(),
            name: id.into(),
            notes: String::new(),
            service_id: service.into(),
            status: Health::Critical,
            kind: CheckKind::Ttl(Duration::from_secs(10)),
            interval: Duration::ZERO,
            timeout: Duration::ZERO,
            deregister_critical_service_after: None,
            success_before_passing: 0,
            failures_before_warning: 0,
            failures_before_critical: 0,
            output_max_size: 8,
        }
    }

    fn service(id: &str, checks: Vec<CheckSpec>) -> ServiceSpec {
        ServiceSpec {
            service: catalog::Service {
                id: id.into(),
                name: "web".into(),
                tags: vec!["a".into()],
                ..catalog::Service::default()
            },
            checks,
        }
    }

    #[test]
    fn services_checks_and_replacement() {
        let mut tables = Tables::new("n1".into());
        let effects = tables.add_service(
            service("w1", vec![ttl_check("c1", "w1"), ttl_check("c2", "w1")]),
            false,
            Source::Api,
            0,
        );
        assert!(effects.changed);
        assert_eq!(effects.start.len(), 2);
        assert_eq!(
            tables.checks[&CheckId::from("c1")]
                .record
                .service_name
                .as_str(),
            "web"
        );
        assert_eq!(
            tables.services[&ServiceId::from("w1")]
                .service
                .node
                .as_str(),
            "n1"
        );

        // Same again: nothing changes, no runner restarts.
        let again = tables.add_service(
            service("w1", vec![ttl_check("c1", "w1"), ttl_check("c2", "w1")]),
            false,
            Source::Api,
            0,
        );
        assert_eq!(again, Effects::default());

        // Without replace-existing-checks the old check stays; with it, it goes.
        tables.add_service(
            service("w1", vec![ttl_check("c1", "w1")]),
            false,
            Source::Api,
            0,
        );
        assert!(tables.checks.contains_key(&CheckId::from("c2")));
        let replaced = tables.add_service(
            service("w1", vec![ttl_check("c1", "w1")]),
            true,
            Source::Api,
            0,
        );
        assert_eq!(replaced.stop, vec![CheckId::from("c2")]);
        assert!(!tables.checks.contains_key(&CheckId::from("c2")));

        let removed = tables.remove_service(&"w1".into());
        assert_eq!(removed.stop, vec![CheckId::from("c1")]);
        assert!(tables.checks.is_empty() && tables.services.is_empty());
        assert!(!tables.remove_service(&"w1".into()).changed);
    }

    #[test]
    fn standalone_checks_need_their_service() {
        let mut tables = Tables::new("n1".into());
        let error = tables
            .add_check(ttl_check("c", "nope"), Source::Api, 0)
            .unwrap_err();
        assert_eq!(error.to_string(), "ServiceID \"nope\" does not exist");
        assert!(tables.add_check(ttl_check("c", ""), Source::Api, 0).is_ok());
    }

    #[test]
    fn status_updates_ttl_and_output_limits() {
        let mut tables = Tables::new("n1".into());
        tables
            .add_check(ttl_check("c", ""), Source::Api, 0)
            .unwrap();
        let id = CheckId::from("c");
        assert_eq!(
            tables
                .update_ttl(&id, Health::Passing, "ok".into(), 1)
                .unwrap(),
            Update::Status
        );
        assert_eq!(
            tables
                .update_ttl(&id, Health::Passing, "still ok".into(), 2)
                .unwrap(),
            Update::Output
        );
        assert_eq!(
            tables
                .update_ttl(&id, Health::Passing, "still ok".into(), 3)
                .unwrap(),
            Update::None
        );
        tables
            .update_ttl(&id, Health::Warning, "0123456789".into(), 4)
            .unwrap();
        assert_eq!(tables.checks[&id].record.output, "01234567");
        assert!(tables
            .update_ttl(&"other".into(), Health::Passing, String::new(), 5)
            .unwrap_err()
            .to_string()
            .contains("does not have associated TTL"));
    }

    #[test]
    fn maintenance_checks() {
        let mut tables = Tables::new("n1".into());
        tables.add_service(service("w1", vec![]), false, Source::Api, 0);
        assert!(
            tables
                .service_maintenance(&"w1".into(), true, String::new())
                .unwrap()
                .changed
        );
        let check = &tables.checks[&CheckId::from("_service_maintenance:w1")];
        assert_eq!(check.record.status, Health::Critical);
        assert_eq!(check.record.check_type, "maintenance");
        assert!(check
            .record
            .notes
            .starts_with("Maintenance mode is enabled for this service"));
        assert!(
            !tables
                .service_maintenance(&"w1".into(), true, "x".into())
                .unwrap()
                .changed
        );
        assert!(tables
            .service_maintenance(&"nope".into(), true, String::new())
            .is_err());
        assert!(tables.node_maintenance(true, "patching".into()).changed);
        assert_eq!(
            tables.checks[&CheckId::from(NODE_MAINTENANCE)].record.notes,
            "patching"
        );
        assert!(tables.node_maintenance(false, String::new()).changed);
        assert!(
            tables
                .service_maintenance(&"w1".into(), false, String::new())
                .unwrap()
                .changed
        );
        assert!(tables.checks.is_empty());
    }

    #[test]
    fn reaping_after_critical_for_long_enough() {
        let mut tables = Tables::new("n1".into());
        let mut check = ttl_check("c", "w1");
        check.deregister_critical_service_after = Some(Duration::from_secs(60));
        tables.add_service(service("w1", vec![check]), false, Source::Api, 1_000);
        assert!(tables.reapable(30_000, 0).is_empty());
        assert_eq!(tables.reapable(61_000, 0), vec![ServiceId::from("w1")]);
        // A passing result resets the clock.
        tables.set_status(&"c".into(), Health::Passing, String::new(), 61_000);
        assert!(tables.reapable(200_000, 0).is_empty());
        tables.set_status(&"c".into(), Health::Critical, String::new(), 200_000);
        assert!(tables.reapable(230_000, 0).is_empty());
        assert!(tables.reapable(230_000, 10).is_empty());
        assert_eq!(tables.reapable(260_000, 0).len(), 1);
    }
}
