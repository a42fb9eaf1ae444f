//! Keyring changes across the datacenter, as Consul fans them out with serf queries: the
//! agent that gets `/v1/operator/keyring` broadcasts the operation as a gossip user event,
//! every agent applies it to its own keyring and answers with an acknowledgement event that
//! carries its keys, and the asking agent counts the answers.
//!
//! Rules:
//! 1. The asking agent applies the operation to itself directly and ignores its own
//!    broadcast, so nothing is applied twice.
//! 2. It waits for an answer from every member alive when it asked, for at most
//!    `ANSWER_DEADLINE`; a member that did not answer or refused is named in the response's
//!    messages, and the response carries an error.
//! 3. Both events are versioned records under the durable codec's rules, and fit gossip's
//!    512-byte user-event limit (a keyring of a handful of keys).
//! 4. Rotation order is the operator's: install everywhere, use everywhere, then remove. An
//!    agent keeps decrypting with every installed key, so no member is lost on the way.

use legate_api::backend::{KeyringOp, KeyringResponse};
use legate_catalog::codec;
use legate_gossip::{Event, Gossip, KeyringList, MemberStatus};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

pub const QUERY_EVENT: &str = "_legate:keyring";
pub const ANSWER_EVENT: &str = "_legate:keyring-ack";
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);
/// Queries a member remembers its answer to, so a query sent again is not applied again.
const REMEMBERED: usize = 64;
/// How often the query goes out again to members that have not answered yet.
const RESEND_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Query {
    V1 { id: u64, origin: String, op: Op },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Op {
    List,
    Install(String),
    Use(String),
    Remove(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Answer {
    V1 {
        id: u64,
        node: String,
        /// Why this member refused, if it did.
        error: Option<String>,
        keys: Vec<String>,
        primary: String,
    },
}

/// Applies `op` to this agent's keyring and lists it afterwards.
async fn apply(gossip: &Gossip, op: &Op) -> (Option<String>, KeyringList) {
    let result = match op {
        Op::List => Ok(()),
        Op::Install(key) => gossip.keyring_install(key).await.map_err(|e| e.to_string()),
        Op::Use(key) => gossip.keyring_use(key).await.map_err(|e| e.to_string()),
        Op::Remove(key) => gossip.keyring_remove(key).await.map_err(|e| e.to_string()),
    };
    let list = gossip.keyring_list().await;
    let error = result
        .err()
        .or_else(|| list.as_ref().err().map(|e| e.to_string()));
    (
        error,
        list.unwrap_or(KeyringList {
            keys: Vec::new(),
            primary: String::new(),
        }),
    )
}

/// Answers other agents' keyring queries until gossip stops.
pub async fn respond(gossip: Gossip, node: String) {
    let mut events = gossip.subscribe();
    let mut answered: VecDeque<(u64, Answer)> = VecDeque::new();
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let Event::User(event) = event else { continue };
        if event.name != QUERY_EVENT {
            continue;
        }
        let Ok(Query::V1 { id, origin, op }) = codec::decode::<Query>(&event.payload) else {
            tracing::warn!("keyring: undecodable query ignored");
            continue;
        };
        if origin == node {
            continue; // Rule 1.
        }
        // A query sent again (its asker missed our answer) is answered again, not applied
        // again: a second `remove` would fail for a key the first removed.
        let answer = match answered.iter().find(|(seen, _)| *seen == id) {
            Some((_, answer)) => answer.clone(),
            None => {
                let (error, list) = apply(&gossip, &op).await;
                let answer = Answer::V1 {
                    id,
                    node: node.clone(),
                    error,
                    keys: list.keys,
                    primary: list.primary,
                };
                if answered.len() >= REMEMBERED {
                    answered.pop_front();
                }
                answered.push_back((id, answer.clone()));
                answer
            }
        };
        if let Err(error) = gossip
            .fire_event(ANSWER_EVENT, codec::encode(&answer))
            .await
        {
            tracing::warn!("keyring: answering query {id} failed: {error}");
        }
    }
}

/// Runs `op` on every member of the datacenter and counts the answers (rules 1, 2).
/// `wan` says which ring `gossip` is, for the response.
pub async fn run(
    gossip: &Gossip,
    node: &str,
    datacenter: &str,
    wan: bool,
    op: KeyringOp,
) -> KeyringResponse {
    let op = match op {
        KeyringOp::List => Op::List,
        KeyringOp::Install(key) => Op::Install(key.as_str().to_owned()),
        KeyringOp::Use(key) => Op::Use(key.as_str().to_owned()),
        KeyringOp::Remove(key) => Op::Remove(key.as_str().to_owned()),
    };
    let alive: BTreeSet<String> = gossip
        .members()
        .into_iter()
        .filter(|member| {
            member.status == MemberStatus::Alive && member.tags.datacenter == datacenter
        })
        .map(|member| member.name)
        .collect();
    let id = rand::random::<u64>();
    let mut events = gossip.subscribe();
    let (own_error, own_list) = apply(gossip, &op).await;
    let mut answers: BTreeMap<String, (Option<String>, Vec<String>, String)> = BTreeMap::new();
    answers.insert(
        node.to_owned(),
        (own_error, own_list.keys, own_list.primary),
    );
    let query = Query::V1 {
        id,
        origin: node.to_owned(),
        op,
    };
    let mut messages = BTreeMap::new();
    if let Err(error) = gossip.fire_event(QUERY_EVENT, codec::encode(&query)).await {
        messages.insert(
            node.to_owned(),
            format!("broadcasting the query failed: {error}"),
        );
    }
    let deadline = Instant::now() + ANSWER_DEADLINE;
    // Gossip broadcasts are best-effort: a member that missed the query (a dropped datagram on
    // a busy host) gets it again every `RESEND_EVERY` until it answers. A member that sees it
    // twice sends its first answer again (see `respond`).
    let mut resend = tokio::time::interval_at(Instant::now() + RESEND_EVERY, RESEND_EVERY);
    while !alive.iter().all(|member| answers.contains_key(member)) {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = resend.tick() => {
                let _ = gossip.fire_event(QUERY_EVENT, codec::encode(&query)).await;
                continue;
            }
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let event = match event {
            Ok(Event::User(event)) if event.name == ANSWER_EVENT => event,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        if let Ok(Answer::V1 {
            id: answered,
            node,
            error,
            keys,
            primary,
        }) = codec::decode::<Answer>(&event.payload)
        {
            if answered == id {
                // The first answer counts: a repeat is the same answer sent again.
                answers.entry(node).or_insert((error, keys, primary));
            }
        }
    }
    let mut keys = BTreeMap::new();
    let mut primary_keys = BTreeMap::new();
    for (member, (error, member_keys, primary)) in &answers {
        if let Some(error) = error {
            messages.insert(member.clone(), error.clone());
        }
        for key in member_keys {
            *keys.entry(key.clone()).or_insert(0) += 1;
        }
        if !primary.is_empty() {
            *primary_keys.entry(primary.clone()).or_insert(0) += 1;
        }
    }
    for member in alive.iter().filter(|member| !answers.contains_key(*member)) {
        messages.insert(member.clone(), "no answer".to_owned());
    }
    let num_nodes = alive.len().max(answers.len());
    let error = (!messages.is_empty()).then(|| {
        format!(
            "{}/{} nodes reported success",
            num_nodes.saturating_sub(messages.len()),
            num_nodes
        )
    });
    KeyringResponse {
        wan,
        datacenter: datacenter.to_owned(),
        segment: String::new(),
        keys,
        primary_keys,
        num_nodes,
        error,
        messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_events_fit_gossips_limit_with_several_keys() {
        let key = "a".repeat(44);
        let answer = Answer::V1 {
            id: u64::MAX,
            node: "n".repeat(64),
            error: None,
            keys: vec![key.clone(); 6],
            primary: key.clone(),
        };
        let size = codec::encode(&answer).len() + ANSWER_EVENT.len();
        assert!(size <= legate_gossip::MAX_USER_EVENT, "{size}");
        let query = Query::V1 {
            id: 1,
            origin: "n".repeat(64),
            op: Op::Install(key),
        };
        assert!(codec::encode(&query).len() + QUERY_EVENT.len() <= legate_gossip::MAX_USER_EVENT);
    }
}
