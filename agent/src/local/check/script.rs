//! Script checks (Consul's `CheckMonitor` with `Args`): the command runs without a shell;
//! exit 0 is passing, 1 warning, anything else (a signal too) critical. Its stdout and stderr
//! together are the output.
//!
//! Limits:
//! - Output: only the last `output_max_size` bytes are kept (Consul's circular buffer: the
//!   end of a failing script's output says why), however much it prints.
//! - Time: at the timeout the whole process group is killed, as Consul's
//!   `KillCommandSubtree` does: killing only the direct child would leave a `sh -c` script's
//!   children running and holding the output pipe open.
//! - Stop: dropping a run (the runner's task aborted) kills the group too.

use super::output::Tail;
use super::probe::{Outcome, SetupError};
use legate_api::duration::format_std;
use rustix::process::{kill_process_group, Pid, Signal};
use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// How long a killed script may take to be reaped before the run gives up on it (the kill
/// is SIGKILL, so this is only reached by a process stuck in the kernel).
const REAP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct ScriptCheck {
    args: Vec<String>,
    output_max_size: usize,
}

impl ScriptCheck {
    pub fn new(args: &[String], output_max_size: usize) -> Result<Self, SetupError> {
        if args.first().is_none_or(String::is_empty) {
            return Err(SetupError::EmptyScript);
        }
        Ok(ScriptCheck {
            args: args.to_vec(),
            output_max_size,
        })
    }

    pub async fn run(&self, timeout: Duration) -> Outcome {
        let mut command = Command::new(&self.args[0]);
        command
            .args(&self.args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so that a kill reaches the script's children.
            .process_group(0);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => return Outcome::critical(format!("exec: {:?}: {error}", self.args[0])),
        };
        let mut group = ProcessGroup::new(child.id());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut tail = Tail::new(self.output_max_size);

        let finished = tokio::time::timeout(timeout, async {
            // Go's `cmd.Wait` also waits for the output to end; so does this.
            let (status, ()) = tokio::join!(child.wait(), pump(stdout, stderr, &mut tail));
            status
        })
        .await;
        match finished {
            Ok(status) => {
                group.disarm();
                outcome(status, tail.render())
            }
            Err(_) => {
                group.kill();
                // Reap it, so that no second instance ever runs beside this one.
                let _ = tokio::time::timeout(REAP_GRACE, child.wait()).await;
                group.disarm();
                let mut message = format!("Timed out ({}) running check", format_std(timeout));
                let output = tail.render();
                if !output.is_empty() {
                    message.push_str("\n\n");
                    message.push_str(&output);
                }
                Outcome::critical(message)
            }
        }
    }
}

fn outcome(status: io::Result<ExitStatus>, output: String) -> Outcome {
    match status.map(|status| status.code()) {
        Ok(Some(0)) => Outcome::passing(output),
        Ok(Some(1)) => Outcome::warning(output),
        Ok(_) => Outcome::critical(output),
        Err(error) => Outcome::critical(error.to_string()),
    }
}

/// Copies stdout and stderr, as they come, into `tail` until both end.
async fn pump(
    mut stdout: Option<impl AsyncRead + Unpin>,
    mut stderr: Option<impl AsyncRead + Unpin>,
    tail: &mut Tail,
) {
    let mut out_buffer = [0u8; 4096];
    let mut err_buffer = [0u8; 4096];
    while stdout.is_some() || stderr.is_some() {
        tokio::select! {
            read = read_some(&mut stdout, &mut out_buffer) => match read {
                Ok(count) if count > 0 => tail.write(&out_buffer[..count]),
                _ => stdout = None,
            },
            read = read_some(&mut stderr, &mut err_buffer) => match read {
                Ok(count) if count > 0 => tail.write(&err_buffer[..count]),
                _ => stderr = None,
            },
        }
    }
}

/// Reads from a pipe still open; never finishes for one already closed.
async fn read_some(
    reader: &mut Option<impl AsyncRead + Unpin>,
    buffer: &mut [u8],
) -> io::Result<usize> {
    match reader {
        Some(reader) => reader.read(buffer).await,
        None => std::future::pending().await,
    }
}

/// The script's process group, killed when dropped unless disarmed: a run that is dropped
/// (its check stopped) must not leave the script running.
struct ProcessGroup(Option<Pid>);

impl ProcessGroup {
    fn new(id: Option<u32>) -> Self {
        ProcessGroup(id.and_then(|id| Pid::from_raw(i32::try_from(id).ok()?)))
    }

    fn kill(&self) {
        if let Some(pid) = self.0 {
            // ESRCH (already gone) is the only expected failure, and harmless.
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }

    /// Called once the script is reaped: its id may be reused from then on.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
