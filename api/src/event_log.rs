//! `EventLog`: the user events an agent kept, for `/v1/event/list` and its blocking form.
//!
//! Rules (Consul's `agent/user_event.go` and `agent/event_endpoint.go`):
//! 1. The log keeps the last `EVENT_BUFFER` (256) events in arrival order; the oldest goes
//!    first when a new one comes.
//! 2. A list is oldest first, optionally only the events of one name; its index is the last
//!    listed event's `EventId::index` (at least 1), or 1 when none is listed.
//! 3. Event IDs are random, so the index is not ordered: a blocking list waits while the
//!    index *equals* the caller's (hash-style), and returns at once when it differs or when
//!    the caller's is 0. Every kept event wakes the waiters, which list again.

use crate::backend::event::{EventId, UserEvent};
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// Rule 1: how many events an agent keeps (Consul's `eventBuf` size).
pub const EVENT_BUFFER: usize = 256;

/// A list answer: the events and the index they stand for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventList {
    pub index: u64,
    pub events: Vec<UserEvent>,
}

/// The pure core: a bounded ring of events.
#[derive(Clone, Debug, Default)]
pub struct EventRing {
    events: VecDeque<UserEvent>,
}

impl EventRing {
    /// Rule 1: keeps `event`, dropping the oldest when full.
    pub fn push(&mut self, event: UserEvent) {
        if self.events.len() == EVENT_BUFFER {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    pub fn contains(&self, id: EventId) -> bool {
        self.events.iter().any(|event| event.id == id)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Rule 2.
    pub fn list(&self, name: Option<&str>) -> EventList {
        let events: Vec<UserEvent> = self
            .events
            .iter()
            .filter(|event| name.is_none_or(|name| event.name == name))
            .cloned()
            .collect();
        // Clamped like every `X-Consul-Index`, so the index a client sends back is the one
        // compared here (an ID folding to 0 is a 2^-64 chance, but then no hot loop).
        let index = events.last().map_or(1, |event| event.id.index().max(1));
        EventList { index, events }
    }
}

/// The shell: the ring behind a lock, and a counter that wakes blocking lists.
#[derive(Debug)]
pub struct EventLog {
    ring: Mutex<EventRing>,
    /// Bumped on every kept event; waiters hold receivers (rule 3).
    kept: watch::Sender<u64>,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::new()
    }
}

impl EventLog {
    pub fn new() -> EventLog {
        EventLog {
            ring: Mutex::new(EventRing::default()),
            kept: watch::Sender::new(0),
        }
    }

    /// Keeps `event` and wakes the waiters.
    pub fn keep(&self, event: UserEvent) {
        self.ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
        self.kept
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Rule 2, now.
    pub fn list(&self, name: Option<&str>) -> EventList {
        self.ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .list(name)
    }

    /// Whether the event `id` is kept, waiting up to `wait` for it to arrive.
    pub async fn wait_for(&self, id: EventId, wait: Duration) -> bool {
        let mut kept = self.kept.subscribe();
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            let found = self
                .ring
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(id);
            if found {
                return true;
            }
            tokio::select! {
                changed = kept.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                }
                () = &mut deadline => return false,
            }
        }
    }

    /// Rule 3: the list, once its index differs from `min_index` or `wait` has passed.
    pub async fn wait_list(&self, name: Option<&str>, min_index: u64, wait: Duration) -> EventList {
        // Subscribed before the first look, so an event kept in between still wakes us.
        let mut kept = self.kept.subscribe();
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            let list = self.list(name);
            if min_index == 0 || list.index != min_index {
                return list;
            }
            tokio::select! {
                changed = kept.changed() => {
                    if changed.is_err() {
                        return list;
                    }
                }
                () = &mut deadline => return list,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::event::FireRequest;
    use std::sync::Arc;

    fn event(n: u32, name: &str) -> UserEvent {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_be_bytes());
        FireRequest {
            name: name.into(),
            ..FireRequest::default()
        }
        .into_event(EventId::from_bytes(id))
        .unwrap()
    }

    #[test]
    fn the_ring_keeps_the_last_256_oldest_first() {
        let mut ring = EventRing::default();
        assert_eq!(
            ring.list(None),
            EventList {
                index: 1,
                events: vec![]
            }
        );
        for n in 0..300 {
            ring.push(event(n, if n % 2 == 0 { "even" } else { "odd" }));
        }
        assert_eq!(ring.len(), EVENT_BUFFER);
        let all = ring.list(None);
        assert_eq!(all.events.len(), 256);
        assert_eq!(
            all.events[0],
            event(44, "even"),
            "the first 44 were dropped"
        );
        assert_eq!(all.events[255], event(299, "odd"));
        assert_eq!(all.index, event(299, "odd").id.index());
        let even = ring.list(Some("even"));
        assert_eq!(even.events.len(), 128);
        assert_eq!(even.index, event(298, "even").id.index());
        assert_eq!(ring.list(Some("none")).index, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocking_list_waits_while_the_index_is_the_same() {
        let log = Arc::new(EventLog::new());
        log.keep(event(1, "a"));
        let first = log.list(None);
        // Index 0 and a different index answer at once.
        assert_eq!(log.wait_list(None, 0, Duration::from_secs(60)).await, first);
        assert_eq!(log.wait_list(None, 5, Duration::from_secs(60)).await, first);
        // The same index waits for the next event...
        let waiter = {
            let log = log.clone();
            tokio::spawn(async move {
                log.wait_list(None, first.index, Duration::from_secs(60))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        log.keep(event(2, "b"));
        let woken = waiter.await.unwrap();
        assert_eq!(woken.events.len(), 2);
        // ...but not for one its name filter hides; then the wait runs out.
        let named = log.list(Some("a"));
        let waiter = {
            let log = log.clone();
            tokio::spawn(async move {
                log.wait_list(Some("a"), named.index, Duration::from_secs(60))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        log.keep(event(3, "b"));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        let timed_out = waiter.await.unwrap();
        assert_eq!(timed_out.events, vec![event(1, "a")]);
    }
}
