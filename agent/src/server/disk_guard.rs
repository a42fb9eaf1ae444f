//! Keeps a server from ever running its disk completely full.
//!
//! sled treats an I/O error as fatal to the whole database: after one `ENOSPC` every later
//! operation fails until it is reopened, and openraft stops on the first storage error. So
//! rather than survive a full disk after the fact, the server refuses to get there:
//!
//! 1. A monitor reads the data directory's free space every `CHECK_EVERY`. Below
//!    `min_free` it refuses new writes (`disk full: <path>`), pauses log appends (the log
//!    store waits instead of writing; a leader steps down, a follower falls behind and
//!    catches up later), skips snapshots, and warns in plain words.
//! 2. A ballast file of `ballast` bytes, allocated at start, is deleted at that moment: the
//!    room it frees lets whatever was already in flight (appends, the vote, the committed
//!    index, a purge) finish without meeting `ENOSPC`. Appends that reach the log store after
//!    the refusal (entries proposed just before it, a follower's replication) are written
//!    while the free space stays above half of `min_free` (`must_hold_appends`), so a write
//!    caught in the race is answered, not held with an unknown outcome; below that, the log
//!    store holds them.
//! 3. Once free space is back above `min_free` plus the ballast, the ballast is allocated
//!    again and writes resume, without a restart.
//!
//! A storage error that still gets through (another process filling the disk faster than
//! the monitor looks, or `EIO`) leaves a log that cannot be trusted; `run` then stops the
//! agent with the reason and a non-zero exit rather than keep a zombie.
//!
//! `assess` is the pure decision; `DiskGuard` and `run` are the I/O around it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the free space is read.
pub const CHECK_EVERY: Duration = Duration::from_millis(200);
/// The ballast's file name in the data directory.
pub const BALLAST_FILE: &str = "legate-disk-ballast";

/// Free-space thresholds, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSettings {
    /// Below this, writes are refused.
    pub min_free: u64,
    /// Room held back in a ballast file and released when the disk runs low.
    pub ballast: u64,
}

impl Default for DiskSettings {
    fn default() -> Self {
        DiskSettings {
            min_free: 64 << 20,
            ballast: 16 << 20,
        }
    }
}

/// What the monitor should do about the free space it just read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Plenty of room.
    Fine,
    /// Still writing, but less than twice `min_free` is left: warn.
    Low,
    /// Refuse writes (and release the ballast).
    Full,
}

/// Decides from the free bytes and whether writes are refused now. Resuming needs the
/// ballast's room on top of `min_free`, so re-allocating the ballast cannot push the disk
/// straight back under the threshold (no flapping).
pub fn assess(free: u64, refusing: bool, settings: &DiskSettings) -> Verdict {
    let resume_at = settings.min_free.saturating_add(settings.ballast);
    if free < settings.min_free || (refusing && free < resume_at) {
        Verdict::Full
    } else if free < settings.min_free.saturating_mul(2) {
        Verdict::Low
    } else {
        Verdict::Fine
    }
}

/// The guard shared by the write path, the log store and the snapshotter.
#[derive(Clone, Debug)]
pub struct DiskGuard {
    path: PathBuf,
    refusing: Arc<AtomicBool>,
    free: Arc<AtomicU64>,
    /// Below this many free bytes, appends wait while writes are refused (rule 2).
    floor: Arc<AtomicU64>,
    changes: watch::Sender<bool>,
}

impl DiskGuard {
    pub fn new(path: impl Into<PathBuf>) -> DiskGuard {
        DiskGuard {
            path: path.into(),
            refusing: Arc::default(),
            free: Arc::new(AtomicU64::new(u64::MAX)),
            floor: Arc::default(),
            changes: watch::Sender::new(false),
        }
    }

    /// Whether the log store must hold an append now (rule 2): writes are refused and the
    /// free space, read now rather than at the last check, is under the floor. A file
    /// system that cannot say holds.
    pub fn must_hold_appends(&self) -> bool {
        self.is_full()
            && free_bytes(&self.path).map_or(true, |free| free < self.floor.load(Ordering::Relaxed))
    }

    /// Whether writes are refused now.
    pub fn is_full(&self) -> bool {
        self.refusing.load(Ordering::Relaxed)
    }

    /// The plain-words reason a refused write is given.
    pub fn refusal(&self) -> String {
        let free = self.free.load(Ordering::Relaxed);
        format!(
            "disk full: {} ({} free); writes resume once space is freed",
            self.path.display(),
            mib(free)
        )
    }

    /// Waits until writes are allowed again.
    pub async fn wait_until_writable(&self) {
        let mut changes = self.changes.subscribe();
        while *changes.borrow_and_update() {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// A watch of `is_full`, for the leader's step-down.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.changes.subscribe()
    }

    fn set(&self, full: bool, free: u64) {
        self.free.store(free, Ordering::Relaxed);
        self.refusing.store(full, Ordering::Relaxed);
        self.changes.send_if_modified(|current| {
            let changed = *current != full;
            *current = full;
            changed
        });
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// Free bytes for unprivileged writers on the file system holding `path`.
fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stats = rustix::fs::statvfs(path)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// Allocates the ballast (real blocks, not a sparse file, so the space is truly held).
fn allocate_ballast(path: &Path, bytes: u64) -> std::io::Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)?;
    rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, bytes)?;
    file.sync_all()
}

/// Watches the free space until `stop` is cancelled. Runs its file-system calls on a
/// blocking thread, so a slow disk never holds up a runtime worker.
pub async fn run(
    guard: DiskGuard,
    settings: DiskSettings,
    stop: tokio_util::sync::CancellationToken,
) {
    let ballast = guard.path.join(BALLAST_FILE);
    guard.floor.store(settings.min_free / 2, Ordering::Relaxed);
    let mut last = Verdict::Fine;
    // A file system without `fallocate` (some network ones) gets no ballast: said once,
    // and the reserve alone then guards the disk.
    let mut ballast_works = true;
    loop {
        let (path, ballast_path, refusing) = (guard.path.clone(), ballast.clone(), guard.is_full());
        let try_ballast = ballast_works;
        let checked = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let free = free_bytes(&path)?;
            let verdict = assess(free, refusing, &settings);
            let ballast = match verdict {
                Verdict::Full if ballast_path.exists() => std::fs::remove_file(&ballast_path),
                Verdict::Fine | Verdict::Low if try_ballast && !ballast_path.exists() => {
                    allocate_ballast(&ballast_path, settings.ballast).inspect_err(|_| {
                        let _ = std::fs::remove_file(&ballast_path);
                    })
                }
                _ => Ok(()),
            };
            // What is left once the ballast is in place (or gone).
            Ok((free_bytes(&path)?, verdict, ballast))
        })
        .await;
        match checked {
            Ok(Ok((free, verdict, ballast))) => {
                if let Err(error) = ballast {
                    tracing::warn!(
                        "disk: no ballast file in {} ({error}); the {} reserve alone guards \
                         the disk",
                        guard.path.display(),
                        mib(settings.min_free)
                    );
                    ballast_works = false;
                }
                if verdict != last {
                    report(&guard, verdict, free, &settings);
                    last = verdict;
                }
                guard.set(verdict == Verdict::Full, free);
            }
            Ok(Err(error)) => {
                tracing::warn!(
                    "disk: cannot check the free space of {}: {error}",
                    guard.path.display()
                );
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}

fn report(guard: &DiskGuard, verdict: Verdict, free: u64, settings: &DiskSettings) {
    let path = guard.path.display();
    match verdict {
        Verdict::Full => tracing::error!(
            "disk full: {path} has {} free, under the {} this server keeps in reserve; \
             refusing writes (stale reads go on) until space is freed there",
            mib(free),
            mib(settings.min_free)
        ),
        Verdict::Low => tracing::warn!(
            "disk low: {path} has {} free; writes stop below {}. Free space there or \
             move the data directory to a larger disk",
            mib(free),
            mib(settings.min_free)
        ),
        Verdict::Fine => tracing::info!("disk: {path} has {} free again", mib(free)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn refuses_below_the_minimum_and_resumes_only_with_the_ballasts_room_on_top() {
        let settings = DiskSettings {
            min_free: 64 * MIB,
            ballast: 16 * MIB,
        };
        assert_eq!(assess(500 * MIB, false, &settings), Verdict::Fine);
        assert_eq!(assess(100 * MIB, false, &settings), Verdict::Low);
        assert_eq!(assess(63 * MIB, false, &settings), Verdict::Full);
        // Refusing: 70 MiB is above the minimum but not above minimum + ballast.
        assert_eq!(assess(70 * MIB, true, &settings), Verdict::Full);
        assert_eq!(assess(80 * MIB, true, &settings), Verdict::Low);
        assert_eq!(assess(500 * MIB, true, &settings), Verdict::Fine);
    }

    #[tokio::test]
    async fn waiters_wake_when_writes_resume() {
        let guard = DiskGuard::new("/data");
        guard.set(true, 0);
        assert!(guard.is_full());
        assert!(guard
            .refusal()
            .starts_with("disk full: /data (0.0 MiB free)"));
        let waiting = {
            let guard = guard.clone();
            tokio::spawn(async move { guard.wait_until_writable().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        guard.set(false, 100 * MIB);
        waiting.await.unwrap();
    }

    #[test]
    fn the_ballast_holds_real_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(BALLAST_FILE);
        let before = free_bytes(dir.path()).unwrap();
        allocate_ballast(&path, 8 * MIB).unwrap();
        let after = free_bytes(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 * MIB);
        // Other writers may move the figure a little; the ballast itself took its room.
        assert!(
            before.saturating_sub(after) >= 7 * MIB,
            "{before} -> {after}"
        );
    }

    #[test]
    fn appends_go_on_above_the_floor_while_writes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let guard = DiskGuard::new(dir.path());
        assert!(!guard.must_hold_appends(), "writes allowed: appends too");
        guard.set(true, 0);
        assert!(
            !guard.must_hold_appends(),
            "refused, but room above a zero floor"
        );
        guard.floor.store(u64::MAX, Ordering::Relaxed);
        assert!(guard.must_hold_appends(), "refused and under the floor");
        guard.set(false, u64::MAX);
        assert!(!guard.must_hold_appends(), "writable again");
    }
}
