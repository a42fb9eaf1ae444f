//! User events over this agent's gossip: `/v1/event/fire` sends them, and every agent keeps
//! those its filters let through for `/v1/event/list` and watches.
//!
//! Consul's agent hands a fire to a server over RPC, and the server broadcasts it on the LAN
//! pool. Every Legate agent gossips in the same LAN pool, clients included, so each fires
//! through its own gossip instead: the event reaches the same members, one hop sooner, and a
//! client can fire while no server answers (Consul's events need a server for the RPC).
//!
//! Rules:
//! 1. A fire hands the event to gossip and returns once gossip took it; delivery is best
//!    effort (Consul's, too). Gossip also delivers it here, so the firing agent keeps it
//!    through the same path as every other agent.
//! 2. Each arriving user event (`event::UserEvent::from_gossip`; Legate's internal events are
//!    not user events) is checked against this agent's node name and its own services as
//!    they are on arrival, and kept with the Lamport time gossip stamped it with.
//! 3. The receiver subscribes before `start` returns, so no event fired after that is missed
//!    here; one that lags behind gossip's event channel loses events, and says so.
//! 4. A fire that this agent's filters let through returns once the event is kept here (for
//!    at most `OWN_EVENT_WAIT`), so a list right after a fire on the same agent shows it.

use legate_api::backend::event::{ServiceTags, UserEvent};
use legate_api::backend::{BackendError, EventList};
use legate_api::event_log::EventLog;
use legate_api::local::LocalAgent;
use legate_gossip::{Event, Gossip};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Rule 4: how long a fire waits for its own event to come back from gossip.
const OWN_EVENT_WAIT: Duration = Duration::from_secs(2);

/// This agent's user events: firing, and the log of kept ones.
#[derive(Clone)]
pub struct UserEvents {
    gossip: Gossip,
    log: Arc<EventLog>,
    node: String,
    /// This agent's own services, for its filters.
    local_services: Arc<dyn Fn() -> Vec<legate_catalog::Service> + Send + Sync>,
}

impl UserEvents {
    /// Starts keeping the events that reach `node`, whose own services `local` holds.
    pub fn start<L: LocalAgent + Clone>(gossip: Gossip, node: String, local: L) -> UserEvents {
        let log = Arc::new(EventLog::new());
        // Rule 3: subscribed here, not in the task.
        let arrivals = gossip.subscribe();
        let local_services = {
            let local = local.clone();
            Arc::new(move || local.services())
        };
        tokio::spawn(receive(arrivals, log.clone(), node.clone(), local));
        UserEvents {
            gossip,
            log,
            node,
            local_services,
        }
    }

    fn local_services(&self) -> Vec<legate_catalog::Service> {
        (self.local_services)()
    }

    /// Rules 1 and 4.
    pub async fn fire(&self, event: UserEvent) -> Result<(), BackendError> {
        let id = event.id;
        let kept_here = event.accepted_by(&self.node, &ServiceTags::of(self.local_services()));
        self.gossip
            .fire_event(&event.gossip_name(), event.encode())
            .await
            .map_err(|error| BackendError::Internal(error.to_string()))?;
        if kept_here && !self.log.wait_for(id, OWN_EVENT_WAIT).await {
            tracing::warn!("events: event {id} was fired but has not come back from gossip");
        }
        Ok(())
    }

    /// The kept events, blocking as `event_log` says.
    pub async fn list(&self, name: Option<String>, min_index: u64, wait: Duration) -> EventList {
        self.log.wait_list(name.as_deref(), min_index, wait).await
    }
}

/// Rule 2, until gossip stops.
async fn receive<L: LocalAgent>(
    mut arrivals: tokio::sync::broadcast::Receiver<Event>,
    log: Arc<EventLog>,
    node: String,
    local: L,
) {
    loop {
        let arrived = match arrivals.recv().await {
            Ok(Event::User(arrived)) => arrived,
            Ok(Event::Member(_)) => continue,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!("events: fell behind gossip; up to {missed} events were lost");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let event = match UserEvent::from_gossip(&arrived.name, &arrived.payload, arrived.ltime) {
            Ok(Some(event)) => event,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!("events: {error}");
                continue;
            }
        };
        if event.accepted_by(&node, &ServiceTags::of(local.services())) {
            tracing::debug!("events: new event {} ({})", event.name, event.id);
            log.keep(event);
        }
    }
}

/// The event part of `api::Backend` for a backend holding `UserEvents` in `$field` and its
/// `OperatorCalls` in `$ops`: servers and clients fire and list events the same way, through
/// their own gossip; an event for another datacenter goes to one of its servers, which
/// fires it there.
#[macro_export]
macro_rules! delegate_event_calls {
    ($field:ident, $ops:ident) => {
        async fn fire_event(
            &self,
            datacenter: Option<legate_catalog::Datacenter>,
            event: legate_api::backend::UserEvent,
        ) -> Result<(), BackendError> {
            match datacenter {
                Some(dc) if dc != self.agent_info().datacenter => {
                    self.$ops.fire_event_in(&dc, &event).await
                }
                _ => self.$field.fire(event).await,
            }
        }

        async fn events(
            &self,
            name: Option<String>,
            min_index: u64,
            wait: std::time::Duration,
        ) -> Result<legate_api::backend::EventList, BackendError> {
            Ok(self.$field.list(name, min_index, wait).await)
        }
    };
}
