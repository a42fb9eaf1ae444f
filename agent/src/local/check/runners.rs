//! `Runners`: the running checks of the agent, one tokio task each.
//!
//! Rules:
//! 1. At most one runner per check id: `start` replaces the runner of that id, whose task is
//!    aborted (a script it was running is killed) before the new one starts.
//! 2. Once `stop`, `stop_all` or a replacing `start` has returned, the old runner reports
//!    nothing more (`Reporter` rule 4). Dropping `Runners` stops everything.
//! 3. Each runner is its own task: a slow or hung check delays no other.
//! 4. A definition that cannot run (a bad URL, an empty script) leaves no runner; it is
//!    reported critical with the reason, and `start` returns the error.

use super::interval;
use super::probe::{Probe, SetupError};
use super::reporter::{Closer, Reporter, Sink};
use super::threshold::Threshold;
use super::ttl::Ttl;
use legate_api::local::{CheckKind, CheckSpec};
use legate_catalog::{CheckId, Health};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Consul's `MinInterval`: a shorter interval would let a script check fork-bomb the host.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Consul's run timeouts when a definition gives none (its config layer applies them; these
/// only guard against a zero reaching the runner).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Runners {
    reporter: Arc<dyn Reporter>,
    /// A std mutex: it is held only to look up, insert or remove, never across an await or a
    /// report.
    running: Mutex<HashMap<CheckId, Runner>>,
}

/// One running check. Dropping it stops it.
struct Runner {
    task: JoinHandle<()>,
    closer: Closer,
    /// Set for TTL checks only.
    ttl: Option<Ttl>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        // Close first: it waits out a report under way, after which none can start.
        self.closer.close();
        self.task.abort();
    }
}

impl Runners {
    pub fn new(reporter: Arc<dyn Reporter>) -> Self {
        Runners {
            reporter,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Starts (or restarts, rule 1) the check `spec` describes. `ttl_remaining` applies to a
    /// TTL check only: the time left before it expires, when its status was restored from
    /// before a restart; `None` means the whole TTL. Must be called within a tokio runtime.
    pub fn start(
        &self,
        spec: &CheckSpec,
        ttl_remaining: Option<Duration>,
    ) -> Result<(), SetupError> {
        // Stop the old runner before anything else, so that it can neither overwrite the new
        // runner's reports nor a setup error.
        drop(self.remove(&spec.id));
        let sink = Sink::new(
            spec.id.clone(),
            Arc::clone(&self.reporter),
            spec.output_max_size,
        );
        let closer = sink.closer();
        let runner = match &spec.kind {
            CheckKind::Ttl(ttl) => {
                let first = ttl_remaining.unwrap_or(*ttl).min(*ttl);
                let (ttl, task) = Ttl::start(*ttl, first, sink);
                Runner {
                    task,
                    closer,
                    ttl: Some(ttl),
                }
            }
            kind => {
                let probe = match Probe::new(kind, spec.output_max_size) {
                    Ok(probe) => probe,
                    Err(error) => {
                        sink.report(Health::Critical, error.to_string());
                        return Err(error);
                    }
                };
                let task = tokio::spawn(interval::run(
                    probe,
                    spec.interval.max(MIN_INTERVAL),
                    run_timeout(spec),
                    Threshold::for_spec(spec),
                    sink,
                ));
                Runner {
                    task,
                    closer,
                    ttl: None,
                }
            }
        };
        let replaced = self.lock().insert(spec.id.clone(), runner);
        // Only a concurrent `start` of the same id can have put one there; rule 1 holds.
        drop(replaced);
        Ok(())
    }

    /// Stops the check's runner, if it has one (rule 2).
    pub fn stop(&self, id: &CheckId) {
        drop(self.remove(id));
    }

    /// Stops every runner (rule 2).
    pub fn stop_all(&self) {
        let all = std::mem::take(&mut *self.lock());
        drop(all);
    }

    /// Restarts a TTL check's timer, keeping the last output it was given. False when `id`
    /// has no TTL runner.
    pub fn reset_ttl(&self, id: &CheckId) -> bool {
        self.reset(id, None)
    }

    /// Restarts a TTL check's timer and records `output` (already cut by the caller, see
    /// `cut_ttl_output`) for the expiry message. False when `id` has no TTL runner.
    pub fn reset_ttl_with_output(&self, id: &CheckId, output: String) -> bool {
        self.reset(id, Some(output))
    }

    /// Whether `id` has a runner.
    pub fn contains(&self, id: &CheckId) -> bool {
        self.lock().contains_key(id)
    }

    fn reset(&self, id: &CheckId, output: Option<String>) -> bool {
        match self.lock().get(id).and_then(|runner| runner.ttl.as_ref()) {
            Some(ttl) => {
                ttl.reset(output);
                true
            }
            None => false,
        }
    }

    /// Takes the runner out under the lock; the caller drops it after the lock is released,
    /// since dropping waits for a report under way (which may itself use `Runners`).
    fn remove(&self, id: &CheckId) -> Option<Runner> {
        self.lock().remove(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CheckId, Runner>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The definition's timeout, or Consul's default for the kind when it is zero.
fn run_timeout(spec: &CheckSpec) -> Duration {
    match (&spec.kind, spec.timeout.is_zero()) {
        (_, false) => spec.timeout,
        (CheckKind::Script(_), true) => DEFAULT_SCRIPT_TIMEOUT,
        (_, true) => DEFAULT_TIMEOUT,
    }
}
