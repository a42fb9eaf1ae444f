//! `?near=<node>` (or `_agent`, this agent's node): list results sorted by the estimated
//! round trip from that node, as network coordinates estimate it.
//!
//! Rules (Consul's `rtt.go`):
//! 1. The order is stable: entries whose nodes are equally far keep the order they came in.
//! 2. Entries whose node has no coordinate go last.
//! 3. When the `near` node itself has no coordinate (unknown node, or not reported yet),
//!    nothing is sorted.

use crate::backend::Backend;
use crate::error::ApiError;
use crate::options::RequestOptions;
use crate::router::{unexpected, Api};
use legate_catalog::{Coord, Index, Query, QueryResult};
use std::collections::HashMap;
use std::time::Duration;

/// The node `near` names: `_agent` is this agent's own.
pub fn origin_node(near: &str, agent_node: &str) -> String {
    if near == "_agent" {
        agent_node.to_owned()
    } else {
        near.to_owned()
    }
}

/// Sorts `items` by distance from `origin` (rules 1–3); `coords` maps lower-cased node
/// names to coordinates.
pub fn order<T>(
    items: &mut [T],
    origin: &str,
    coords: &HashMap<String, Coord>,
    node_of: impl Fn(&T) -> &str,
) {
    let Some(from) = coords.get(&origin.to_lowercase()) else {
        return;
    };
    items.sort_by_cached_key(|item| {
        coords
            .get(&node_of(item).to_lowercase())
            .map_or(Distance(f64::INFINITY), |to| Distance(from.distance_to(to)))
    });
}

/// A distance that sorts (coordinates are valid, so never NaN).
#[derive(Clone, Copy)]
struct Distance(f64);

impl PartialEq for Distance {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Distance {}

impl PartialOrd for Distance {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Distance {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The shell: applies `?near=` to `items` when the request asked for it.
pub async fn sort<B: Backend, T>(
    api: &Api<B>,
    options: &RequestOptions,
    items: &mut [T],
    node_of: impl Fn(&T) -> &str,
) -> Result<(), ApiError> {
    let Some(near) = &options.near else {
        return Ok(());
    };
    let origin = origin_node(near, &api.info().node_name);
    let coords = coordinates(api, options).await?;
    order(items, &origin, &coords, node_of);
    Ok(())
}

/// Every node's coordinate in the datacenter the request reads, by lower-cased node name.
pub async fn coordinates<B: Backend>(
    api: &Api<B>,
    options: &RequestOptions,
) -> Result<HashMap<String, Coord>, ApiError> {
    // The list itself may have blocked; its sort order never does.
    let once = RequestOptions {
        min_index: Index::ZERO,
        wait: Duration::ZERO,
        ..options.clone()
    };
    let read = api.read(&once, Query::Coordinates { node: None }).await?;
    let QueryResult::Coordinates(found) = read.value else {
        return Err(unexpected(&read.value));
    };
    Ok(found
        .into_iter()
        .map(|entry| (entry.node.as_str().to_lowercase(), entry.coord))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f64) -> Coord {
        Coord {
            vec: vec![x, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            error: 0.1,
            adjustment: 0.0,
            height: 0.0,
        }
    }

    #[test]
    fn sorts_by_distance_stably_with_the_unknown_last() {
        let coords = HashMap::from([
            ("me".to_owned(), at(0.0)),
            ("far".to_owned(), at(0.050)),
            ("near".to_owned(), at(0.001)),
            ("also-near".to_owned(), at(-0.001)),
        ]);
        let mut items = vec!["ghost", "far", "Near", "also-near", "me"];
        order(&mut items, "ME", &coords, |item| item);
        assert_eq!(items, ["me", "Near", "also-near", "far", "ghost"]);
        // No coordinate for the origin: left alone.
        let mut items = vec!["far", "near"];
        order(&mut items, "ghost", &coords, |item| item);
        assert_eq!(items, ["far", "near"]);
        assert_eq!(origin_node("_agent", "me"), "me");
        assert_eq!(origin_node("web-1", "me"), "web-1");
    }
}
