//! One blocking query of a watch through the typed client, answered as `(index, JSON)`: the
//! JSON a handler reads on stdin, in the shape Consul's watch hands its handlers, written
//! straight from the typed values so that fields keep Consul's order.
//!
//! Shapes per type (`api/watch/funcs.go`): key → a KV entry or `null`; keyprefix → the
//! entries, or `null` when there are none (Go's nil slice); services → `{name: [tags]}`;
//! nodes → `[Node]`; service → `[ServiceEntry]`; checks → `[HealthCheck]`; event → the
//! events that arrived since the index the query blocked on (all of them at first).

use super::plan::IndexOrder;
use super::spec::{ChecksOf, WatchKind, WatchQuery};
use legate_api::client::{Client, ClientError, QueryOptions};
use serde::Serialize;
use serde_json::Value;

/// A query's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub index: u64,
    /// The result as compact JSON: what a handler reads, and what tells changes apart.
    pub result: String,
    /// The same, indented as `legate watch` prints it without a handler.
    pub pretty: String,
}

/// The compact and the indented JSON of a result.
fn json<T: Serialize>(value: &T) -> Result<(String, String), ClientError> {
    let compact =
        serde_json::to_string(value).map_err(|error| ClientError::Decode(error.to_string()))?;
    let pretty = String::from_utf8_lossy(&legate_api::reply::to_json(value, true)).into_owned();
    Ok((compact, pretty))
}

impl WatchQuery {
    /// How this watch's index is ordered (see `plan`, rule 4).
    pub fn order(&self) -> IndexOrder {
        match self.kind {
            WatchKind::Event { .. } => IndexOrder::Unordered,
            _ => IndexOrder::Ordered,
        }
    }

    /// A client for this watch's agent, with its token.
    pub fn client(&self, base_url: &str) -> Client {
        let client = Client::new(base_url);
        match &self.token {
            Some(token) => client.with_token(token.clone()),
            None => client,
        }
    }

    /// Runs the query, blocking on `wait_index` (0 answers at once).
    pub async fn fetch(&self, client: &Client, wait_index: u64) -> Result<Answer, ClientError> {
        let options = QueryOptions {
            datacenter: self.datacenter.clone(),
            index: wait_index,
            stale: self.stale,
            ..QueryOptions::default()
        };
        let (index, result) = match &self.kind {
            WatchKind::Key { key } => {
                let (pair, meta) = client.kv_get(key, &options).await?;
                (meta.index, json(&pair)?)
            }
            WatchKind::KeyPrefix { prefix } => {
                let (pairs, meta) = client.kv_list(prefix, &options).await?;
                // Go's nil slice: `null` when nothing is under the prefix.
                let result = if pairs.is_empty() {
                    json(&Value::Null)?
                } else {
                    json(&pairs)?
                };
                (meta.index, result)
            }
            WatchKind::Services => {
                let (services, meta) = client.catalog_services(&options).await?;
                (meta.index, json(&services)?)
            }
            WatchKind::Nodes => {
                let (nodes, meta) = client.catalog_nodes(&options).await?;
                (meta.index, json(&nodes)?)
            }
            WatchKind::Service {
                service,
                tags,
                passing_only,
            } => {
                let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                let (entries, meta) = client
                    .health_service(service, &tags, *passing_only, &options)
                    .await?;
                (meta.index, json(&entries)?)
            }
            WatchKind::Checks(ChecksOf::Service(service)) => {
                let (checks, meta) = client.health_checks(service, &options).await?;
                (meta.index, json(&checks)?)
            }
            WatchKind::Checks(ChecksOf::State(state)) => {
                let (checks, meta) = client.health_state(state, &options).await?;
                (meta.index, json(&checks)?)
            }
            WatchKind::Event { name } => {
                let (mut events, meta) = client.event_list(Some(name), &options).await?;
                // Only what arrived after the event the query blocked on.
                if let Some(seen) = events
                    .iter()
                    .position(|event| event.index() == Some(wait_index))
                {
                    events.drain(..=seen);
                }
                (meta.index, json(&events)?)
            }
        };
        let (result, pretty) = result;
        Ok(Answer {
            index,
            result,
            pretty,
        })
    }
}
