//! `legate lock [-n N] [-shell] [-session-ttl] [-timeout] [-monitor-retry] PREFIX COMMAND...`:
//! runs COMMAND while holding the lock at `PREFIX/.lock` (or, with `-n N > 1`, one of N
//! semaphore slots under PREFIX), as `consul lock` does, with the Go client's key layout so
//! that it excludes Go-client locks on the same prefix.
//!
//! The child runs in its own process group. When the lock is lost (the session invalidated,
//! the key taken away, the agent unreachable past `-monitor-retry`), the whole group gets
//! SIGTERM, then SIGKILL after `KILL_GRACE`, so no child outlives the lock for long.
//!
//! Exit status: the child's own with `-child-exit-code`; otherwise 0 when the child
//! succeeded, 2 when it failed, 1 when the lock could not be taken or was lost.
//!
//! Beyond `consul lock`, the child gets its fencing token in its environment:
//! `LEGATE_LOCK_KEY`, `LEGATE_LOCK_SESSION` and, for a lock, `LEGATE_LOCK_INDEX` (the
//! key's `LockIndex`, which rises with every new holder while the key exists) and
//! `LEGATE_LOCK_SEQUENCER` (the key's `ModifyIndex` while held: a Raft index, strictly
//! higher for every later holder even after the key is deleted and created again).

use super::{HttpFlags, Outcome};
use crate::lock::mutex::Mutex;
use crate::lock::semaphore::Semaphore;
use crate::lock::session_keeper::SessionKeeper;
use crate::lock::{until_lost, LockError, Lost, DEFAULT_SESSION_TTL};
use clap::{ArgAction, Args};
use rustix::process::{kill_process_group, Pid, Signal};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long a child has between SIGTERM and SIGKILL once the lock is lost.
const KILL_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// How many holders at once (1: a lock; more: a semaphore).
    #[arg(short = 'n', default_value_t = 1)]
    limit: usize,
    /// The session's name (default: "Consul lock for <command> at <prefix>").
    #[arg(long, default_value = "")]
    name: String,
    /// Run the command through a shell (`$SHELL -c`, or `/bin/sh -c`).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    shell: bool,
    /// Give the child this process's standard input.
    #[arg(long = "pass-stdin")]
    pass_stdin: bool,
    /// The session TTL (default 15s).
    #[arg(long = "session-ttl", default_value = "")]
    session_ttl: String,
    /// The longest to wait for the lock (0: no limit).
    #[arg(long, default_value = "0s")]
    timeout: String,
    /// How many errors in a row the lock monitor tolerates before it counts the lock lost.
    #[arg(long = "monitor-retry", default_value_t = 3)]
    monitor_retry: u32,
    /// Exit with the child's exit code.
    #[arg(long = "child-exit-code")]
    child_exit_code: bool,
    /// Say what happens.
    #[arg(long)]
    verbose: bool,
    prefix: String,
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

enum Holder {
    Mutex(Mutex, crate::lock::mutex::Held),
    Semaphore(Semaphore, crate::lock::semaphore::Held),
}

impl Holder {
    fn lost(&self) -> Lost {
        match self {
            Holder::Mutex(_, held) => held.lost(),
            Holder::Semaphore(_, held) => held.lost(),
        }
    }

    /// What the child learns of its lock: the fencing token (key, session, and for a lock
    /// its `LockIndex`) to hand to any resource it protects.
    fn environment(&self) -> Vec<(&'static str, String)> {
        match self {
            Holder::Mutex(lock, held) => vec![
                ("LEGATE_LOCK_KEY", lock.key.clone()),
                ("LEGATE_LOCK_SESSION", lock.session.clone()),
                ("LEGATE_LOCK_INDEX", held.lock_index.to_string()),
                ("LEGATE_LOCK_SEQUENCER", held.sequencer.to_string()),
            ],
            Holder::Semaphore(semaphore, _) => vec![
                ("LEGATE_LOCK_KEY", semaphore.prefix.clone()),
                ("LEGATE_LOCK_SESSION", semaphore.session.clone()),
            ],
        }
    }

    async fn release(self, client: &legate_api::Client) -> Result<(), LockError> {
        match self {
            Holder::Mutex(lock, held) => lock.release(client, held).await,
            Holder::Semaphore(semaphore, held) => semaphore.release(client, held).await,
        }
    }
}

pub async fn run(args: LockArgs) -> Outcome {
    if args.limit == 0 {
        return Outcome::fail("Lock holder limit must be positive".to_owned());
    }
    let timeout = match legate_api::duration::parse_std(&args.timeout) {
        Ok(timeout) => timeout,
        Err(error) => return Outcome::fail(format!("Invalid -timeout: {error}")),
    };
    let ttl = if args.session_ttl.is_empty() {
        DEFAULT_SESSION_TTL.to_owned()
    } else {
        args.session_ttl.clone()
    };
    let prefix = args.prefix.trim_start_matches('/').to_owned();
    let script = args.command.join(" ");
    let name = if args.name.is_empty() {
        format!("Consul lock for {script:?} at {prefix:?}")
    } else {
        args.name.clone()
    };
    let client = args.http.client();
    let datacenter = args.http.datacenter.as_deref();
    let session = match SessionKeeper::create(&client, &name, &ttl, datacenter).await {
        Ok(session) => session,
        Err(error) => return Outcome::fail(format!("Lock acquisition failed: {error}")),
    };
    let deadline = (!timeout.is_zero()).then(|| tokio::time::Instant::now() + timeout);
    let acquired = if args.limit == 1 {
        let lock = Mutex {
            key: format!("{}/.lock", prefix.trim_end_matches('/')),
            value: Vec::new(),
            session: session.id.clone(),
            monitor_retries: args.monitor_retry,
        };
        lock.acquire(&client, deadline, session.lost())
            .await
            .map(|held| Holder::Mutex(lock, held))
    } else {
        let semaphore = Semaphore {
            prefix: prefix.clone(),
            limit: args.limit,
            value: Vec::new(),
            session: session.id.clone(),
            monitor_retries: args.monitor_retry,
        };
        semaphore
            .acquire(&client, deadline, session.lost())
            .await
            .map(|held| Holder::Semaphore(semaphore, held))
    };
    let holder = match acquired {
        Ok(holder) => holder,
        Err(LockError::Timeout) => {
            session.destroy(&client).await;
            return Outcome::fail(
                "Shutdown triggered or timeout during lock acquisition".to_owned(),
            );
        }
        Err(error) => {
            session.destroy(&client).await;
            return Outcome::fail(format!("Lock acquisition failed: {error}"));
        }
    };
    if args.verbose {
        eprintln!("Lock acquired on {prefix}, starting: {script}");
    }
    let mut lost = holder.lost();
    let finished = match spawn_child(&args, &holder.environment()) {
        Ok(child) => supervise(child, &mut lost).await,
        Err(error) => Finished::Failed(format!("Error starting handler: {error}")),
    };
    let released = holder.release(&client).await;
    session.destroy(&client).await;
    let mut outcome = match finished {
        Finished::Exited(status) if status.success() => Outcome::ok(String::new()),
        Finished::Exited(status) => {
            let code = status.code().unwrap_or(2);
            Outcome {
                stdout: String::new(),
                stderr: format!("Child exited with {status}"),
                code: if args.child_exit_code {
                    code.clamp(0, 255) as u8
                } else {
                    2
                },
            }
        }
        Finished::Lost => Outcome::fail("Lock lost, killing child".to_owned()),
        Finished::Failed(message) => Outcome::fail(message),
    };
    if let Err(error) = released {
        outcome
            .stderr
            .push_str(&format!("\nLock release failed: {error}"));
    }
    outcome
}

enum Finished {
    Exited(ExitStatus),
    Lost,
    Failed(String),
}

fn spawn_child(args: &LockArgs, environment: &[(&str, String)]) -> std::io::Result<Child> {
    let mut command = if args.shell {
        let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_owned());
        let mut command = Command::new(shell);
        command.arg("-c").arg(args.command.join(" "));
        command
    } else {
        let mut command = Command::new(&args.command[0]);
        command.args(&args.command[1..]);
        command
    };
    command
        .envs(environment.iter().map(|(name, value)| (*name, value)))
        .stdin(if args.pass_stdin {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .kill_on_drop(true)
        // Its own group, so a lost lock stops the child's children too.
        .process_group(0);
    command.spawn()
}

/// Waits for the child, or stops it when the lock is lost.
async fn supervise(mut child: Child, lost: &mut Lost) -> Finished {
    let group = child.id().and_then(|id| Pid::from_raw(id as i32));
    tokio::select! {
        status = child.wait() => match status {
            Ok(status) => Finished::Exited(status),
            Err(error) => Finished::Failed(format!("Error waiting for child: {error}")),
        },
        () = until_lost(lost) => {
            eprintln!("Lock lost, killing child");
            if let Some(group) = group {
                let _ = kill_process_group(group, Signal::TERM);
            }
            if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
                if let Some(group) = group {
                    let _ = kill_process_group(group, Signal::KILL);
                }
                let _ = child.wait().await;
            }
            Finished::Lost
        }
    }
}
