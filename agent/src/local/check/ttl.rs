//! TTL checks (Consul's `CheckTTL`): the application reports its own status; a timer turns
//! the check critical when no report arrives for the TTL.
//!
//! Rules:
//! 1. The timer starts at `first` (the whole TTL, or what remained of it before the agent
//!    restarted, so that a restored status still expires at its original deadline).
//! 2. Each reset restarts it at the full TTL, even after it has fired.
//! 3. On expiry the check is reported critical once, with `TTL expired`, or
//!    `TTL expired (last output before timeout follows): <output>` when the last reset
//!    carried an output, as Consul words it. It then waits for the next reset.

use super::reporter::Sink;
use legate_catalog::Health;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The handle through which resets reach a TTL check's timer task.
#[derive(Debug)]
pub struct Ttl {
    ttl: Duration,
    /// The deadline and last output. A watch, not a queue: resets coalesce, so a burst of
    /// them cannot pile up, and every send still wakes the task.
    timer: watch::Sender<Timer>,
}

#[derive(Debug)]
struct Timer {
    /// Computed by the caller, not by the task when it gets to run, so that the TTL counts
    /// from the start or reset itself.
    deadline: Instant,
    last_output: String,
}

impl Ttl {
    /// Starts the timer task (rule 1).
    pub(crate) fn start(ttl: Duration, first: Duration, sink: Sink) -> (Ttl, JoinHandle<()>) {
        let (timer, receiver) = watch::channel(Timer {
            deadline: Instant::now() + first,
            last_output: String::new(),
        });
        let task = tokio::spawn(run(receiver, sink));
        (Ttl { ttl, timer }, task)
    }

    /// Restarts the timer (rule 2); `output`, when given, replaces the last output.
    pub fn reset(&self, output: Option<String>) {
        self.timer.send_modify(|timer| {
            timer.deadline = Instant::now() + self.ttl;
            if let Some(output) = output {
                timer.last_output = output;
            }
        });
    }
}

async fn run(mut timer: watch::Receiver<Timer>, sink: Sink) {
    let mut deadline = timer.borrow_and_update().deadline;
    let mut armed = true;
    loop {
        tokio::select! {
            // A reset that arrived by the deadline wins over the expiry.
            biased;
            changed = timer.changed() => {
                if changed.is_err() {
                    return; // The handle is gone: the check was stopped.
                }
                deadline = timer.borrow_and_update().deadline;
                armed = true;
            }
            () = tokio::time::sleep_until(deadline), if armed => {
                armed = false;
                let output = expired_output(&timer.borrow().last_output);
                sink.report(Health::Critical, output);
            }
        }
    }
}

fn expired_output(last: &str) -> String {
    if last.is_empty() {
        "TTL expired".to_owned()
    } else {
        format!("TTL expired (last output before timeout follows): {last}")
    }
}
