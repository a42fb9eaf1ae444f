//! Each agent's report of its LAN network coordinate to the servers (Consul's
//! `sendCoordinate`): gossip measures it, the leader batches the reports into the catalog,
//! where `/v1/coordinate/nodes` and `?near=` read them.
//!
//! Rules:
//! 1. An agent reports every `max(sync_coordinate_interval_min, members ÷ rate target)`,
//!    plus a random stagger of up to as much again, so that all agents together send about
//!    `sync_coordinate_rate_target` reports a second whatever the cluster's size.
//! 2. A refused or failed report is only logged: the next one comes soon, and coordinates
//!    are soft state.

use crate::config::cluster::CoordinateSettings;
use crate::operator_calls::OperatorTransport;
use crate::server::rpc::message::{OperatorAnswer, OperatorRequest};
use legate_catalog::{Coord, NodeCoordinate};
use legate_gossip::Gossip;
use rand::Rng;
use std::time::Duration;
use tokio::sync::watch;

/// Gossip's coordinate in the catalog's terms.
pub fn catalog_coord(coordinate: &legate_gossip::Coordinate) -> Coord {
    Coord {
        vec: coordinate.vec.clone(),
        error: coordinate.error,
        adjustment: coordinate.adjustment,
        height: coordinate.height,
    }
}

/// Rule 1, before the stagger.
pub fn interval(settings: &CoordinateSettings, members: usize) -> Duration {
    let scaled = Duration::from_secs_f64(members as f64 / settings.sync_rate_target);
    scaled.max(settings.sync_interval_min)
}

pub async fn run<T: OperatorTransport>(
    transport: T,
    gossip: Gossip,
    node: String,
    settings: CoordinateSettings,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let base = interval(&settings, gossip.members().len());
        let stagger = base.mul_f64(rand::thread_rng().gen::<f64>());
        tokio::select! {
            _ = tokio::time::sleep(base + stagger) => {}
            _ = stopped.changed() => return,
        }
        let update = NodeCoordinate {
            node: node.as_str().into(),
            segment: String::new(),
            coord: catalog_coord(&gossip.coordinate()),
        };
        match transport
            .operator(OperatorRequest::CoordinateUpdate(update))
            .await
        {
            Ok(OperatorAnswer::Done) => {}
            Ok(other) => tracing::debug!("coordinates: unexpected answer {other:?}"),
            Err(error) => tracing::debug!("coordinates: report refused: {error:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_grows_with_the_cluster_past_the_minimum() {
        let settings = CoordinateSettings::default();
        assert_eq!(interval(&settings, 3), Duration::from_secs(15));
        assert_eq!(interval(&settings, 64 * 15), Duration::from_secs(15));
        assert_eq!(interval(&settings, 64 * 60), Duration::from_secs(60));
    }
}
