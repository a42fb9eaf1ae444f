//! When the leader may forget KV tombstones.
//!
//! Tombstones keep prefix indexes from falling after deletes, but only blocked queries that
//! started before the delete need them, so Consul reaps them after `tombstone_ttl` (15 min),
//! in buckets of 30 s. The leader notes the newest tombstone index on every tick; once a noted
//! index is older than the TTL, everything at or below it can go. Time is an argument, so the
//! plan is tested without a clock; a new leader starts with an empty list, as Consul's does.

use legate_catalog::Index;
use std::collections::VecDeque;
use std::time::Duration;

/// Consul's `tombstone_ttl`.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(15 * 60);
/// Consul's tombstone GC granularity: one reap per bucket at most.
pub const GRANULARITY: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct TombstoneGc {
    ttl: Duration,
    /// (time noted, newest tombstone index then), oldest first, indexes rising.
    noted: VecDeque<(Duration, Index)>,
}

impl TombstoneGc {
    pub fn new(ttl: Duration) -> TombstoneGc {
        TombstoneGc {
            ttl,
            noted: VecDeque::new(),
        }
    }

    /// Notes `newest` (the highest tombstone index in the store, if any) at `now`, and
    /// returns the index up to which tombstones have outlived the TTL, if any.
    pub fn tick(&mut self, now: Duration, newest: Option<Index>) -> Option<Index> {
        if let Some(newest) = newest {
            if self.noted.back().is_none_or(|(_, last)| *last < newest) {
                self.noted.push_back((now, newest));
            }
        }
        let mut due = None;
        while let Some((noted_at, index)) = self.noted.front().copied() {
            if now.saturating_sub(noted_at) < self.ttl {
                break;
            }
            due = Some(index);
            self.noted.pop_front();
        }
        due
    }

    /// Forgets everything noted: leadership was lost.
    pub fn reset(&mut self) {
        self.noted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    #[test]
    fn tombstones_are_reaped_only_after_the_ttl() {
        let mut gc = TombstoneGc::new(s(900));
        assert_eq!(gc.tick(s(0), Some(Index(10))), None);
        assert_eq!(
            gc.tick(s(30), Some(Index(10))),
            None,
            "nothing new, nothing noted"
        );
        assert_eq!(gc.tick(s(60), Some(Index(25))), None);
        assert_eq!(gc.tick(s(899), Some(Index(25))), None);
        assert_eq!(gc.tick(s(900), Some(Index(25))), Some(Index(10)));
        assert_eq!(gc.tick(s(930), None), None);
        assert_eq!(gc.tick(s(960), None), Some(Index(25)));
        assert_eq!(gc.tick(s(5000), None), None);
    }

    #[test]
    fn a_late_tick_reaps_every_bucket_that_expired() {
        let mut gc = TombstoneGc::new(s(900));
        gc.tick(s(0), Some(Index(1)));
        gc.tick(s(30), Some(Index(2)));
        gc.tick(s(60), Some(Index(3)));
        assert_eq!(gc.tick(s(10_000), Some(Index(3))), Some(Index(3)));
        gc.reset();
        assert_eq!(gc.tick(s(20_000), None), None);
    }
}
