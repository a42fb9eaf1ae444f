//! An ordered timer queue keyed by due instant. The core owns it (not the
//! driver) so that Lifeguard can stretch, shrink and defer foca's timers.

use std::collections::BTreeMap;
use std::time::Instant;

/// Queue bound: foca schedules a handful of timers per member, so this is
/// far above any sane cluster; past it new timers are dropped and counted.
pub const MAX_TIMERS: usize = 200_000;

/// Items ordered by due time, FIFO among equal instants.
#[derive(Debug)]
pub struct TimerQueue<T> {
    items: BTreeMap<(Instant, u64), T>,
    seq: u64,
    dropped: u64,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
            seq: 0,
            dropped: 0,
        }
    }
}

impl<T> TimerQueue<T> {
    /// Schedules `item` at `due`. Returns false (and counts) when full.
    pub fn push(&mut self, due: Instant, item: T) -> bool {
        if self.items.len() >= MAX_TIMERS {
            self.dropped += 1;
            return false;
        }
        self.seq += 1;
        self.items.insert((due, self.seq), item);
        true
    }

    /// Earliest due instant.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.items.keys().next().map(|(t, _)| *t)
    }

    /// Removes and returns the earliest item due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        let first = *self.items.keys().next()?;
        if first.0 > now {
            return None;
        }
        self.items.remove(&first).map(|item| (first.0, item))
    }

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Timers dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn pops_in_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.push(t0 + Duration::from_secs(2), "b");
        q.push(t0 + Duration::from_secs(1), "a");
        q.push(t0 + Duration::from_secs(2), "c");
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(q.pop_due(t0), None);
        let got: Vec<_> = std::iter::from_fn(|| q.pop_due(t0 + Duration::from_secs(5)))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(got, vec!["a", "b", "c"]);
        assert!(q.is_empty());
    }
}
