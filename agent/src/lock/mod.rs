//! Distributed locks and semaphores over sessions and KV, with the Go `api.Lock` and
//! `api.Semaphore` key layout and flag values, so a lock taken here and one taken by Go
//! client code (Vault, `consul lock`, applications) exclude each other.
//!
//! - `session_keeper`: creates the session and renews it every TTL/2; reports its loss.
//! - `mutex`: `api.Lock`: one holder of `<prefix>/.lock`.
//! - `semaphore_state`: the pure core of `api.Semaphore`'s `.lock` record.
//! - `semaphore`: `api.Semaphore`: up to N holders.
//!
//! A held lock or slot comes with a `Lost` signal that fires when the session is invalidated
//! or the key no longer names it, so the caller (the `legate lock` child) stops promptly.

pub mod mutex;
pub mod semaphore;
pub mod semaphore_state;
pub mod session_keeper;

use legate_api::client::ClientError;
use std::future::Future;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// `api.LockFlagValue`: marks a key as a Go-style lock.
pub const LOCK_FLAG: u64 = 0x2ddc_cbc0_58a5_0c18;
/// `api.SemaphoreFlagValue`.
pub const SEMAPHORE_FLAG: u64 = 0xe0f6_9a2b_aa41_4de0;
/// The Go client's defaults.
pub const DEFAULT_SESSION_TTL: &str = "15s";
pub const LOCK_WAIT: Duration = Duration::from_secs(15);
/// How long a failed acquire (lock-delay) waits before trying again.
pub const LOCK_RETRY: Duration = Duration::from_secs(5);
/// Pause between monitor retries after an error.
pub const MONITOR_RETRY_PAUSE: Duration = Duration::from_secs(2);

#[derive(Debug, Error)]
pub enum LockError {
    /// The key exists but is not a lock of this kind (another tool's data).
    #[error("Existing key does not match lock use")]
    Conflict,
    /// A semaphore's `.lock` record names another limit.
    #[error("semaphore limit conflict (lock: {held}, local: {local})")]
    LimitConflict { held: usize, local: usize },
    /// The deadline passed before the lock was acquired.
    #[error("timed out waiting for the lock")]
    Timeout,
    /// The session was invalidated before the lock was acquired.
    #[error("the session was invalidated")]
    SessionLost,
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    Decode(String),
}

/// Runs `attempt` until it completes, `deadline` passes (`Timeout`) or the session is lost
/// (`SessionLost`).
pub async fn bounded<T>(
    attempt: impl Future<Output = Result<T, LockError>>,
    deadline: Option<Instant>,
    session_lost: &mut Lost,
) -> Result<T, LockError> {
    let sleep_until = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        done = attempt => done,
        () = sleep_until => Err(LockError::Timeout),
        () = until_lost(session_lost) => Err(LockError::SessionLost),
    }
}

/// Watches a held lock: `read(index)` is a `?consistent` blocking read answering whether
/// the session still holds and the index to block on next. The returned signal fires when
/// it no longer holds, when the session is lost, or after more than `retries` failed reads
/// in a row (an agent that cannot be reached cannot vouch for the lock).
pub fn spawn_monitor<F, Fut>(
    what: String,
    retries: u32,
    mut session_lost: Lost,
    mut read: F,
) -> (Lost, JoinHandle<()>)
where
    F: FnMut(u64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(bool, u64), ClientError>> + Send,
{
    let (signal, lost) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut index = 0;
        let mut failures = 0;
        loop {
            let answer = tokio::select! {
                answer = read(index) => answer,
                () = until_lost(&mut session_lost) => break,
            };
            match answer {
                Ok((true, next)) => {
                    failures = 0;
                    index = next;
                }
                Ok((false, _)) => break,
                Err(error) => {
                    failures += 1;
                    if failures > retries {
                        tracing::warn!("{what}: monitor failed {failures} times: {error}");
                        break;
                    }
                    tokio::time::sleep(MONITOR_RETRY_PAUSE).await;
                }
            }
        }
        let _ = signal.send(true);
    });
    (lost, task)
}

/// Fires once the lock or slot is lost.
pub type Lost = tokio::sync::watch::Receiver<bool>;

/// Waits until `lost` fires (or its sender is gone, which also means the lock is gone).
pub async fn until_lost(lost: &mut Lost) {
    while !*lost.borrow_and_update() {
        if lost.changed().await.is_err() {
            return;
        }
    }
}
