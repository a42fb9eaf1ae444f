//! `LocalState`: the I/O shell around `Tables`. It implements `api::local::LocalAgent`,
//! persists every change, drives the check runners, applies their results, reaps services
//! critical for too long, and runs anti-entropy against the catalog.
//!
//! ```text
//!  HTTP /v1/agent/* ──▶ LocalState ──▶ Tables (pure) ──▶ effects ─┬─▶ LocalStore (sled)
//!                           ▲                                    ├─▶ Runners (start/stop)
//!                           │ results (bounded channel)          └─▶ Syncer ──▶ plan ──▶ Raft
//!                        Runners
//! ```

use super::check::{cut_ttl_output, Reporter, Runners};
use super::plan::{self, Managed};
use super::store::{LocalStore, StoreError, TtlState};
use super::syncer::{self, Catalog, SyncHandle};
use super::tables::{Effects, Tables, Update};
use legate_api::local::{
    CheckKind, CheckSpec, LocalAgent, LocalError, ServiceSpec, Source, DEFAULT_OUTPUT_MAX_SIZE,
};
use legate_catalog::{self as catalog, CheckId, Health, Node, ServiceId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};

/// How the local state behaves; Consul's names in the comments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalConfig {
    /// `enable_script_checks`: script checks from the HTTP API and config files.
    pub enable_script_checks: bool,
    /// `enable_local_script_checks`: script checks from config files only.
    pub enable_local_script_checks: bool,
    /// `check_update_interval`: how long an output-only change may wait before it syncs.
    pub check_update_interval: Duration,
    /// The base anti-entropy full-sync period (scaled with the cluster size).
    pub sync_interval: Duration,
    /// How often services critical past `DeregisterCriticalServiceAfter` are reaped.
    pub reap_interval: Duration,
    /// The least `DeregisterCriticalServiceAfter` honoured (Consul: 1 minute).
    pub deregister_minimum: Duration,
    /// How long a write waits for its sync before answering anyway.
    pub sync_wait: Duration,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            enable_script_checks: false,
            enable_local_script_checks: false,
            check_update_interval: Duration::from_secs(300),
            sync_interval: Duration::from_secs(60),
            reap_interval: Duration::from_secs(30),
            deregister_minimum: Duration::from_secs(60),
            sync_wait: Duration::from_secs(10),
        }
    }
}

/// Bound on queued check results; a full queue drops a result, and the next run reports
/// again.
const REPORT_QUEUE: usize = 4096;

/// A check result on its way from a runner to the tables.
type Report = (CheckId, Health, String);

/// Hands runner results to the state through a bounded channel, so runners never wait on
/// the state's lock.
struct ChannelReporter(mpsc::Sender<Report>);

impl Reporter for ChannelReporter {
    fn report(&self, id: &CheckId, status: Health, output: String) {
        if self.0.try_send((id.clone(), status, output)).is_err() {
            tracing::warn!("check {id}: result dropped, the result queue is full");
        }
    }
}

/// What one change touched: its runner effects, and the records to persist beyond those
/// the effects name.
struct Touched {
    effects: Effects,
    services: Vec<ServiceId>,
    checks: Vec<CheckId>,
}

impl Touched {
    fn new(effects: Effects, services: Vec<ServiceId>, checks: Vec<CheckId>) -> Touched {
        Touched {
            effects,
            services,
            checks,
        }
    }
}

struct Inner<C> {
    tables: Mutex<Tables>,
    /// Serialises changes from apply to persisted, so a change that fails to persist is
    /// rolled back before the next one applies. Held across the fsync (an async lock), while
    /// the tables' std lock is never held across I/O.
    change_lock: tokio::sync::Mutex<()>,
    /// Output-only changes waiting for `check_update_interval`: check → due (agent ms).
    deferred: Mutex<BTreeMap<CheckId, u64>>,
    store: LocalStore,
    runners: Runners,
    sync: SyncHandle,
    changes: watch::Sender<u64>,
    catalog: C,
    /// The node record anti-entropy keeps registered.
    node: Node,
    managed: Managed,
    config: LocalConfig,
    started: tokio::time::Instant,
}

/// What a change must persist (one batch of the records it touched) and the runner effects
/// that follow once it has; `None` when it changed nothing.
fn prepare(
    tables: &Tables,
    touched: Touched,
) -> Result<Option<(sled::Batch, Effects)>, LocalError> {
    let Touched {
        effects,
        services,
        mut checks,
    } = touched;
    if !effects.changed {
        return Ok(None);
    }
    checks.extend(effects.start.iter().map(|spec| spec.id.clone()));
    checks.extend(effects.stop.iter().cloned());
    let batch = LocalStore::encode(tables, &services, &checks).map_err(storage)?;
    Ok(Some((batch, effects)))
}

/// The agent's local state; cheap to clone.
pub struct LocalState<C> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for LocalState<C> {
    fn clone(&self) -> Self {
        LocalState {
            inner: self.inner.clone(),
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

fn storage(error: StoreError) -> LocalError {
    LocalError::Storage(error.to_string())
}

impl<C: Catalog> LocalState<C> {
    /// Loads the persisted state, then `services` and `checks` from config files (which win
    /// over persisted copies, as in Consul), starts their runners and the background tasks.
    pub fn start(
        store: LocalStore,
        catalog: C,
        node: Node,
        managed: Managed,
        config: LocalConfig,
        from_config: (Vec<ServiceSpec>, Vec<CheckSpec>),
        stopped: watch::Receiver<bool>,
    ) -> Result<LocalState<C>, LocalError> {
        let loaded = store.load().map_err(storage)?;
        let (report_tx, report_rx) = mpsc::channel(REPORT_QUEUE);
        let runners = Runners::new(Arc::new(ChannelReporter(report_tx)));
        let (sync, requests) = SyncHandle::new(64);
        let state = LocalState {
            inner: Arc::new(Inner {
                tables: Mutex::new(Tables::new(node.name.clone())),
                change_lock: tokio::sync::Mutex::new(()),
                deferred: Mutex::new(BTreeMap::new()),
                store,
                runners,
                sync,
                changes: watch::channel(0).0,
                catalog,
                node,
                managed,
                config,
                started: tokio::time::Instant::now(),
            }),
        };
        state.restore(loaded, from_config)?;

        let syncing = state.clone();
        let sizing = state.clone();
        tokio::spawn(syncer::run(
            requests,
            state.inner.config.sync_interval,
            move || sizing.inner.catalog.cluster_size(),
            move || {
                let state = syncing.clone();
                async move { state.sync_once().await }
            },
            stopped.clone(),
        ));
        tokio::spawn(state.clone().apply_reports(report_rx, stopped.clone()));
        tokio::spawn(state.clone().reap(stopped));
        Ok(state)
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.inner
            .tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds on the agent's monotonic clock (tokio's, so tests can pause it).
    fn now(&self) -> u64 {
        self.inner.started.elapsed().as_millis() as u64
    }

    fn restore(
        &self,
        loaded: super::store::Loaded,
        (services, checks): (Vec<ServiceSpec>, Vec<CheckSpec>),
    ) -> Result<(), LocalError> {
        let now = self.now();
        let mut tables = self.tables();
        for service in loaded.services {
            tables.services.insert(service.service.id.clone(), service);
        }
        for mut check in loaded.checks {
            // As Consul: a restored check starts critical, unless it is a TTL check whose
            // last reported state has not expired yet.
            if check.spec.is_some() {
                check.record.status = Health::Critical;
                check.record.output.clear();
                check.critical_since = Some(now);
            }
            tables.checks.insert(check.record.id.clone(), check);
        }
        let config_ids: Vec<ServiceId> = services.iter().map(|s| s.service.id.clone()).collect();
        for spec in services {
            tables.add_service(spec, false, Source::ConfigFile, now);
        }
        let mut check_ids: Vec<CheckId> = Vec::new();
        for spec in checks {
            check_ids.push(spec.id.clone());
            if let Err(error) = tables.add_check(spec, Source::ConfigFile, now) {
                tracing::warn!("config: check not registered: {error}");
            }
        }
        let mut ttl_remaining = BTreeMap::new();
        let unix_now = unix_ms();
        for (id, state) in &loaded.ttl_states {
            let Some(check) = tables.checks.get_mut(id) else {
                continue;
            };
            if check.is_ttl() && state.expires_unix_ms > unix_now {
                check.record.status = state.status;
                check.record.output = state.output.clone();
                check.critical_since = (state.status == Health::Critical).then_some(now);
                ttl_remaining.insert(
                    id.clone(),
                    Duration::from_millis(state.expires_unix_ms - unix_now),
                );
            }
        }
        for check in tables.checks.values() {
            if let Some(spec) = &check.spec {
                if self.script_refused(spec, check.source).is_none() {
                    self.start_runner(spec, ttl_remaining.get(&spec.id).copied());
                } else {
                    tracing::warn!(
                        "check {}: script checks are disabled; not running it",
                        spec.id
                    );
                }
            }
        }
        let all_checks: Vec<CheckId> = tables.checks.keys().cloned().chain(check_ids).collect();
        let all_services: Vec<ServiceId> =
            tables.services.keys().cloned().chain(config_ids).collect();
        let batch = LocalStore::encode(&tables, &all_services, &all_checks).map_err(storage)?;
        self.inner.store.write_at_start(batch).map_err(storage)
    }

    /// Consul's refusal of script checks that the configuration does not allow.
    fn script_refused(&self, spec: &CheckSpec, source: Source) -> Option<LocalError> {
        if !matches!(spec.kind, CheckKind::Script(_)) {
            return None;
        }
        let config = &self.inner.config;
        let allowed = config.enable_script_checks
            || (source == Source::ConfigFile && config.enable_local_script_checks);
        (!allowed).then(|| {
            LocalError::Refused(
                "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' \
                 or 'enable_local_script_checks' to true"
                    .into(),
            )
        })
    }

    /// Applies one change to the tables, persists the records it touched, restarts its
    /// runners, announces it and waits for its sync. If persisting fails the tables are put
    /// back as they were, so a refused change is never half-applied. (The clone this takes
    /// is linear in the agent's services and checks, which is small next to the fsync.)
    ///
    /// The fsync runs on a blocking thread with the tables' lock released, so readers and
    /// check results are never held up by the disk. Changes are serialised by `change_lock`.
    /// A rollback restores the tables as they were before the change, which also undoes a
    /// check result that arrived during the failed write; the runner reports again at its
    /// next interval.
    async fn change(
        &self,
        apply: impl FnOnce(&mut Tables) -> Result<Touched, LocalError>,
    ) -> Result<(), LocalError> {
        let _serial = self.inner.change_lock.lock().await;
        let (before, prepared) = {
            let mut tables = self.tables();
            let before = tables.clone();
            let touched = apply(&mut tables)?;
            match prepare(&tables, touched) {
                Ok(prepared) => (before, prepared),
                Err(error) => {
                    *tables = before;
                    return Err(error);
                }
            }
        };
        let Some((batch, effects)) = prepared else {
            return Ok(());
        };
        if let Err(error) = self.inner.store.write(batch).await {
            *self.tables() = before;
            return Err(storage(error));
        }
        for id in &effects.stop {
            self.inner.runners.stop(id);
        }
        for spec in &effects.start {
            self.start_runner(spec, None);
        }
        self.inner.changes.send_modify(|count| *count += 1);
        drop(_serial);
        self.inner.sync.sync_now(self.inner.config.sync_wait).await;
        Ok(())
    }

    /// Starts a check's runner. A definition that cannot run has already been reported
    /// critical with the reason by the runner, so the error is only logged.
    fn start_runner(&self, spec: &CheckSpec, ttl_remaining: Option<Duration>) {
        if let Err(error) = self.inner.runners.start(spec, ttl_remaining) {
            tracing::warn!("check {}: cannot run: {error}", spec.id);
        }
    }

    /// One anti-entropy pass; `false` if it must be retried.
    async fn sync_once(&self) -> bool {
        let inner = &self.inner;
        let remote = match inner.catalog.remote(&inner.node.name).await {
            Ok(remote) => remote,
            Err(error) => {
                tracing::debug!("anti-entropy: cannot read the catalog: {error}");
                return false;
            }
        };
        let now = self.now();
        let deferred: BTreeSet<CheckId> = {
            let deferred = inner
                .deferred
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            deferred
                .iter()
                .filter(|(_, due)| **due > now)
                .map(|(id, _)| id.clone())
                .collect()
        };
        let planned = {
            let mut tables = self.tables();
            let planned = plan::plan(&inner.node, &tables, &remote, &inner.managed, &deferred);
            let mut adopted = Vec::new();
            for (id, tags) in &planned.adopt_tags {
                if tables.adopt_tags(id, tags.clone()) {
                    adopted.push(id.clone());
                }
            }
            let batch = if adopted.is_empty() {
                None
            } else {
                LocalStore::encode(&tables, &adopted, &[])
                    .map_err(|error| tracing::warn!("local state: {error}"))
                    .ok()
            };
            (planned, batch)
        };
        let (planned, adopted) = planned;
        if let Some(batch) = adopted {
            if let Err(error) = inner.store.write(batch).await {
                tracing::warn!("local state: {error}");
            }
        }
        for command in planned.commands {
            if let Err(error) = inner.catalog.apply(command).await {
                tracing::warn!("anti-entropy: sync failed: {error}");
                return false;
            }
        }
        // Deferred outputs that were due went out with this sync.
        inner
            .deferred
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, due| *due > now);
        true
    }

    /// Applies runner results: a status change syncs at once; an output-only change waits
    /// for `check_update_interval`.
    async fn apply_reports(
        self,
        mut reports: mpsc::Receiver<Report>,
        mut stopped: watch::Receiver<bool>,
    ) {
        loop {
            let (id, status, output) = tokio::select! {
                report = reports.recv() => match report {
                    Some(report) => report,
                    None => return,
                },
                _ = stopped.wait_for(|stop| *stop) => return,
            };
            let now = self.now();
            let update = self.tables().set_status(&id, status, output, now);
            match update {
                Update::None => continue,
                Update::Status => self.inner.sync.trigger(),
                Update::Output => self.defer_output(&id, now),
            }
            self.inner.changes.send_modify(|count| *count += 1);
        }
    }

    fn defer_output(&self, id: &CheckId, now: u64) {
        let wait = self.inner.config.check_update_interval;
        let due = now + wait.as_millis() as u64;
        let mut deferred = self
            .inner
            .deferred
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if deferred.contains_key(id) {
            return;
        }
        deferred.insert(id.clone(), due);
        let sync = self.inner.sync.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            sync.trigger();
        });
    }

    /// Deregisters services critical past their `DeregisterCriticalServiceAfter`.
    async fn reap(self, mut stopped: watch::Receiver<bool>) {
        let interval = self.inner.config.reap_interval;
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            let minimum = self.inner.config.deregister_minimum.as_millis() as u64;
            let due = self.tables().reapable(self.now(), minimum);
            for id in due {
                tracing::info!("agent: deregistering service {id}: critical past DeregisterCriticalServiceAfter");
                if let Err(error) = self.deregister_service(id).await {
                    tracing::warn!("agent: reaping failed: {error}");
                }
            }
        }
    }
}

impl<C: Catalog> LocalAgent for LocalState<C> {
    async fn register_service(
        &self,
        spec: ServiceSpec,
        replace_existing_checks: bool,
        source: Source,
    ) -> Result<(), LocalError> {
        if let Some(refused) = spec
            .checks
            .iter()
            .find_map(|check| self.script_refused(check, source))
        {
            return Err(refused);
        }
        let id = spec.service.id.clone();
        let now = self.now();
        self.change(|tables| {
            let effects = tables.add_service(spec, replace_existing_checks, source, now);
            // Service name or tag changes reach the checks' denormalised copies.
            let touched: Vec<CheckId> = tables
                .checks
                .iter()
                .filter(|(_, check)| check.record.service_id == id)
                .map(|(check_id, _)| check_id.clone())
                .collect();
            Ok(Touched::new(effects, vec![id], touched))
        })
        .await
    }

    async fn deregister_service(&self, id: ServiceId) -> Result<(), LocalError> {
        self.change(|tables| {
            let effects = tables.remove_service(&id);
            Ok(Touched::new(effects, vec![id], Vec::new()))
        })
        .await
    }

    async fn register_check(&self, spec: CheckSpec, source: Source) -> Result<(), LocalError> {
        if let Some(refused) = self.script_refused(&spec, source) {
            return Err(refused);
        }
        let now = self.now();
        self.change(|tables| {
            let effects = tables.add_check(spec, source, now)?;
            Ok(Touched::new(effects, Vec::new(), Vec::new()))
        })
        .await
    }

    async fn deregister_check(&self, id: CheckId) -> Result<(), LocalError> {
        self.change(|tables| {
            let effects = tables.remove_check(&id);
            Ok(Touched::new(effects, Vec::new(), Vec::new()))
        })
        .await
    }

    async fn update_ttl(
        &self,
        id: CheckId,
        status: Health,
        output: String,
    ) -> Result<(), LocalError> {
        let now = self.now();
        let (update, persisted, last_output) = {
            let mut tables = self.tables();
            let update = tables.update_ttl(&id, status, output, now)?;
            let check = &tables.checks[&id];
            let ttl = match check.spec.as_ref().map(|spec| &spec.kind) {
                Some(CheckKind::Ttl(ttl)) => *ttl,
                _ => Duration::ZERO,
            };
            let persisted = TtlState {
                status: check.record.status,
                output: check.record.output.clone(),
                expires_unix_ms: unix_ms() + ttl.as_millis() as u64,
            };
            let last_output = cut_ttl_output(check.record.output.clone(), DEFAULT_OUTPUT_MAX_SIZE);
            (update, persisted, last_output)
        };
        // Every update restarts the TTL, even one that changes nothing; an expiry quotes the
        // last output, as Consul's does.
        self.inner.runners.reset_ttl_with_output(&id, last_output);
        if let Err(error) = self.inner.store.save_ttl(&id, &persisted).await {
            tracing::warn!("check {id}: TTL state not persisted: {error}");
        }
        match update {
            Update::None => {}
            Update::Output => {
                self.defer_output(&id, now);
                self.inner.changes.send_modify(|count| *count += 1);
            }
            Update::Status => {
                self.inner.changes.send_modify(|count| *count += 1);
                self.inner.sync.sync_now(self.inner.config.sync_wait).await;
            }
        }
        Ok(())
    }

    async fn service_maintenance(
        &self,
        id: ServiceId,
        enable: bool,
        reason: String,
    ) -> Result<(), LocalError> {
        let check = CheckId::new(format!("{}{id}", super::tables::SERVICE_MAINTENANCE_PREFIX));
        self.change(|tables| {
            let effects = tables.service_maintenance(&id, enable, reason)?;
            Ok(Touched::new(effects, Vec::new(), vec![check]))
        })
        .await
    }

    async fn node_maintenance(&self, enable: bool, reason: String) -> Result<(), LocalError> {
        let check = CheckId::new(super::tables::NODE_MAINTENANCE);
        self.change(|tables| {
            let effects = tables.node_maintenance(enable, reason);
            Ok(Touched::new(effects, Vec::new(), vec![check]))
        })
        .await
    }

    fn services(&self) -> Vec<catalog::Service> {
        self.tables().services()
    }

    fn checks(&self) -> Vec<catalog::Check> {
        self.tables().checks()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }
}
