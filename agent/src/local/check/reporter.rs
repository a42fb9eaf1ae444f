//! What the runners need from the agent, somewhere to put a check's new status, and the
//! `Sink` through which one runner reports.

use super::output;
use legate_catalog::{CheckId, Health};
use std::sync::{Arc, Mutex, PoisonError};

/// Receives each status a runner decides on. The local state implements it: it stores the
/// status and output, persists them and schedules a sync.
///
/// Rules:
/// 1. `report` is called from runner tasks, possibly several at once; it must not block for
///    long (no network, no waiting on a sync), or it delays that check's next run and the
///    `stop` of that check; and it must not call back into `Runners` for the same check,
///    which waits for the report to end.
/// 2. A report may repeat the current status and output; the receiver skips a write that
///    changes nothing.
/// 3. `output` is already cut to the check's `output_max_size`.
/// 4. Once `Runners::stop` (or a `start` that replaces the runner) has returned, the old
///    runner reports nothing more.
pub trait Reporter: Send + Sync + 'static {
    fn report(&self, id: &CheckId, status: Health, output: String);
}

/// One runner's way to the `Reporter`: it cuts the output and drops reports once the runner
/// is closed.
pub(crate) struct Sink {
    id: CheckId,
    reporter: Arc<dyn Reporter>,
    output_max_size: usize,
    /// False once the runner is stopped. A lock, not an atomic flag: `close` waits for a
    /// report under way to finish, which is what makes rule 4 hold (aborting the task alone
    /// does not stop a `report` call already running on another thread).
    open: Arc<Mutex<bool>>,
}

impl Sink {
    pub(crate) fn new(id: CheckId, reporter: Arc<dyn Reporter>, output_max_size: usize) -> Self {
        Sink {
            id,
            reporter,
            output_max_size,
            open: Arc::new(Mutex::new(true)),
        }
    }

    pub(crate) fn report(&self, status: Health, output: String) {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if *open {
            let output = output::cut(output, self.output_max_size);
            self.reporter.report(&self.id, status, output);
        }
    }

    /// A handle that closes this sink.
    pub(crate) fn closer(&self) -> Closer {
        Closer(Arc::clone(&self.open))
    }
}

/// Closes a `Sink`; kept by `Runners` beside the runner's task.
pub(crate) struct Closer(Arc<Mutex<bool>>);

impl Closer {
    /// Waits for a report under way, then refuses every later one.
    pub(crate) fn close(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = false;
    }
}
