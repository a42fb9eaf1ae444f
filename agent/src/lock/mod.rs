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
use std::time::Duration;
use thiserror::Error;

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
