//! The coordinates table: each node's network coordinate, as its agent last reported it.
//!
//! Rules (Consul's):
//! 1. A coordinate for a node the catalog does not hold is skipped, as is an invalid one
//!    (wrong dimensions, a non-finite component): the rest of the batch still applies.
//! 2. Deregistering a node drops its coordinates (`catalog::deregister_node` calls
//!    `drop_coordinates`).

use super::{fold, NodeKey, Store};
use crate::command::Outcome;
use crate::types::{Index, NodeCoordinate};
use crate::watch::Touched;

impl Store {
    pub(super) fn coordinate_batch(&mut self, index: Index, updates: &[NodeCoordinate]) -> Outcome {
        let mut changed = false;
        for update in updates {
            let node = fold(update.node.as_str());
            if !update.coord.is_valid() || !self.nodes.contains_key(&node) {
                continue;
            }
            self.coordinates
                .insert((node, update.segment.clone()), update.clone());
            changed = true;
        }
        if changed {
            self.coordinates_index = index;
            self.touched.push(Touched::Coordinates);
        }
        Outcome::Done
    }

    /// Drops every coordinate of a node that leaves the catalog.
    pub(super) fn drop_coordinates(&mut self, index: Index, node: &NodeKey) {
        let keys: Vec<(NodeKey, String)> = self
            .coordinates
            .range((node.clone(), String::new())..)
            .take_while(|((owner, _), _)| owner == node)
            .map(|(key, _)| key.clone())
            .collect();
        if keys.is_empty() {
            return;
        }
        for key in keys {
            self.coordinates.remove(&key);
        }
        self.coordinates_index = index;
        self.touched.push(Touched::Coordinates);
    }

    /// Every coordinate, in node order, or one node's.
    pub fn coordinates(&self, node: Option<&str>) -> Vec<NodeCoordinate> {
        match node {
            None => self.coordinates.values().cloned().collect(),
            Some(node) => {
                let node = fold(node);
                self.coordinates
                    .range((node.clone(), String::new())..)
                    .take_while(|((owner, _), _)| *owner == node)
                    .map(|(_, coordinate)| coordinate.clone())
                    .collect()
            }
        }
    }

    /// The index at which a coordinate last changed.
    pub fn coordinates_index(&self) -> Index {
        self.coordinates_index
    }
}
