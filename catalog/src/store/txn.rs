//! Transactions: every operation runs, in order, on a copy of the store; the copy replaces
//! the store only if none failed. The tables are persistent maps, so the copy costs O(1) and
//! a failed transaction leaves no trace, however far it got.
//!
//! As in Consul's `txnDispatch`, operations after a failed one still run, so the answer
//! lists every failure, each with its position.

use super::{fold, Store};
use crate::command::{
    ApplyError, Command, KvCondition, KvDelete, KvDeleteMode, KvSet, Outcome, Registration,
};
use crate::txn::{on_node, CatalogVerb, CheckOp, KvOp, KvVerb, NodeOp, ServiceOp};
use crate::txn::{TxnError, TxnOp, TxnResult};
use crate::types::{Index, KvEntry};

type OpResult = Result<Vec<TxnResult>, String>;

impl Store {
    pub(super) fn apply_txn(&mut self, index: Index, ops: &[TxnOp]) -> Outcome {
        let mut trial = self.clone();
        match trial.run_txn(index, ops) {
            Ok(results) => {
                *self = trial;
                Outcome::Txn(Ok(results))
            }
            Err(errors) => Outcome::Txn(Err(errors)),
        }
    }

    /// Runs a transaction of reads on a copy of the store (reads only, but the operations
    /// share one code path with writes).
    pub fn read_txn(&self, ops: &[TxnOp]) -> Result<Vec<TxnResult>, Vec<TxnError>> {
        self.clone().run_txn(Index::ZERO, ops)
    }

    fn run_txn(&mut self, index: Index, ops: &[TxnOp]) -> Result<Vec<TxnResult>, Vec<TxnError>> {
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for (at, op) in ops.iter().enumerate() {
            let outcome = match op {
                TxnOp::Kv(op) => self.txn_kv(index, op),
                TxnOp::Node(op) => self.txn_node(index, op),
                TxnOp::Service(op) => self.txn_service(index, op),
                TxnOp::Check(op) => self.txn_check(index, op),
            };
            match outcome {
                Ok(mut produced) => results.append(&mut produced),
                Err(what) => errors.push(TxnError::new(at, what)),
            }
        }
        if errors.is_empty() {
            Ok(results)
        } else {
            Err(errors)
        }
    }

    fn txn_kv(&mut self, index: Index, op: &KvOp) -> OpResult {
        let key = &op.key;
        let set = |condition| {
            Command::KvSet(KvSet {
                entry: KvEntry {
                    key: key.clone(),
                    value: op.value.clone(),
                    flags: op.flags,
                    ..KvEntry::default()
                },
                condition,
            })
        };
        let verdict = |outcome: Result<Outcome, ApplyError>| match outcome {
            Ok(Outcome::Condition(false)) => Ok(false),
            Ok(_) => Ok(true),
            Err(error) => Err(error.to_string()),
        };
        let stored = |store: &Store| store.kv.get(key).map(|entry| KvEntry::clone(entry));
        // Write verbs answer with the entry as written, without its value.
        let written = |store: &Store| -> OpResult {
            Ok(stored(store)
                .map(|mut entry| {
                    entry.value = Vec::new();
                    TxnResult::Kv(entry)
                })
                .into_iter()
                .collect())
        };
        match op.verb {
            KvVerb::Set => {
                verdict(self.apply_kv(index, set(KvCondition::Always)))?;
                written(self)
            }
            KvVerb::Cas => {
                if !verdict(self.apply_kv(index, set(KvCondition::ModifyIndex(op.index))))? {
                    return Err(format!("failed to set key {key:?}, index is stale"));
                }
                written(self)
            }
            KvVerb::Lock => {
                if self.lock_delay_until(key).is_some()
                    && self.sessions.contains_key(op.session.as_str())
                {
                    return Err(format!("failed to lock key {key:?} due to lock delay"));
                }
                let acquire = set(KvCondition::Acquire(op.session.clone()));
                if !verdict(self.apply_kv(index, acquire))? {
                    return Err(format!("failed to lock key {key:?}, lock is already held"));
                }
                written(self)
            }
            KvVerb::Unlock => {
                if !verdict(self.apply_kv(index, set(KvCondition::Release(op.session.clone()))))? {
                    return Err(format!(
                        "failed to unlock key {key:?}, lock isn't held, or is held by another session"
                    ));
                }
                written(self)
            }
            KvVerb::Get => match stored(self) {
                Some(entry) => Ok(vec![TxnResult::Kv(entry)]),
                None => Err(format!("key {key:?} doesn't exist")),
            },
            KvVerb::GetOrEmpty => Ok(vec![TxnResult::Kv(stored(self).unwrap_or_else(|| {
                KvEntry {
                    key: key.clone(),
                    flags: op.flags,
                    ..KvEntry::default()
                }
            }))]),
            KvVerb::GetTree => Ok(self
                .kv
                .range(key.clone()..)
                .take_while(|(candidate, _)| candidate.starts_with(key.as_str()))
                .map(|(_, entry)| TxnResult::Kv(KvEntry::clone(entry)))
                .collect()),
            KvVerb::CheckIndex => match stored(self) {
                None => Err(format!("failed to check index, key {key:?} doesn't exist")),
                Some(entry) if entry.indexes.modify_index != op.index => Err(format!(
                    "failed index check for key {key:?}, current modify index {} != {}",
                    entry.indexes.modify_index, op.index
                )),
                Some(_) => written(self),
            },
            KvVerb::CheckSession => match stored(self) {
                None => Err(format!(
                    "failed to check session, key {key:?} doesn't exist"
                )),
                Some(entry) if entry.session.as_deref().unwrap_or("") != op.session.as_str() => {
                    Err(format!(
                        "failed session check for key {key:?}, current session {:?} != {:?}",
                        entry.session.as_deref().unwrap_or(""),
                        op.session.as_str()
                    ))
                }
                Some(_) => written(self),
            },
            KvVerb::CheckNotExists => match stored(self) {
                Some(_) => Err(format!("key {key:?} exists")),
                None => Ok(Vec::new()),
            },
            KvVerb::Delete => {
                self.delete_kv(index, key, KvDeleteMode::Key);
                Ok(Vec::new())
            }
            KvVerb::DeleteTree => {
                self.delete_kv(index, key, KvDeleteMode::Tree);
                Ok(Vec::new())
            }
            KvVerb::DeleteCas => {
                match self.delete_kv(index, key, KvDeleteMode::ModifyIndex(op.index)) {
                    Outcome::Condition(false) => {
                        Err(format!("failed to delete key {key:?}, index is stale"))
                    }
                    _ => Ok(Vec::new()),
                }
            }
        }
    }

    fn apply_kv(&mut self, index: Index, command: Command) -> Result<Outcome, ApplyError> {
        match command {
            Command::KvSet(set) => self.kv_set(index, &set),
            _ => unreachable!("only KV sets go through apply_kv"),
        }
    }

    fn delete_kv(&mut self, index: Index, key: &str, mode: KvDeleteMode) -> Outcome {
        let delete = KvDelete {
            key: key.to_owned(),
            mode,
        };
        self.kv_delete(index, &delete)
    }

    fn txn_node(&mut self, index: Index, op: &NodeOp) -> OpResult {
        let name = op.node.name.as_str();
        let node_key = fold(name);
        let current = self
            .nodes
            .get(&node_key)
            .map(|node| node.indexes.modify_index);
        let wanted = op.node.indexes.modify_index;
        let result = |store: &Store| -> OpResult {
            Ok(store
                .nodes
                .get(&node_key)
                .map(|node| TxnResult::Node(Box::new(node.clone())))
                .into_iter()
                .collect())
        };
        match op.verb {
            CatalogVerb::Get => match current {
                Some(_) => result(self),
                None => Err(format!("node {name:?} doesn't exist")),
            },
            CatalogVerb::Set | CatalogVerb::Cas => {
                if op.verb == CatalogVerb::Cas && !cas_holds(current, wanted) {
                    return Err(format!("failed to set node {name:?}, index is stale"));
                }
                let registration = Registration {
                    node: op.node.clone(),
                    skip_node_update: false,
                    service: None,
                    checks: Vec::new(),
                };
                self.register(index, &registration)
                    .map_err(|error| error.to_string())?;
                result(self)
            }
            CatalogVerb::Delete => {
                self.delete_node(index, &node_key);
                Ok(Vec::new())
            }
            CatalogVerb::DeleteCas => {
                if current != Some(wanted) {
                    return Err(format!("failed to delete node {name:?}, index is stale"));
                }
                self.delete_node(index, &node_key);
                Ok(Vec::new())
            }
        }
    }

    fn txn_service(&mut self, index: Index, op: &ServiceOp) -> OpResult {
        let node = op.node.as_str();
        let id = if op.service.id.as_str().is_empty() {
            op.service.name.as_str()
        } else {
            op.service.id.as_str()
        };
        let key = (fold(node), fold(id));
        let current = self
            .services
            .get(&key)
            .map(|service| service.indexes.modify_index);
        let wanted = op.service.indexes.modify_index;
        let result = |store: &Store| -> OpResult {
            Ok(store
                .services
                .get(&key)
                .map(|service| TxnResult::Service(Box::new(service.clone())))
                .into_iter()
                .collect())
        };
        match op.verb {
            CatalogVerb::Get => match current {
                Some(_) => result(self),
                None => Err(format!("{} doesn't exist", on_node("service", id, node))),
            },
            CatalogVerb::Set | CatalogVerb::Cas => {
                if op.verb == CatalogVerb::Cas && !cas_holds(current, wanted) {
                    return Err(format!(
                        "failed to set {}, index is stale",
                        on_node("service", id, node)
                    ));
                }
                let Some(stored_node) = self.nodes.get(&key.0).cloned() else {
                    return Err(ApplyError::MissingNode.to_string());
                };
                let registration = Registration {
                    node: stored_node,
                    skip_node_update: true,
                    service: Some(op.service.clone()),
                    checks: Vec::new(),
                };
                self.register(index, &registration)
                    .map_err(|error| error.to_string())?;
                result(self)
            }
            CatalogVerb::Delete => {
                self.delete_service(index, &key);
                Ok(Vec::new())
            }
            CatalogVerb::DeleteCas => {
                if current != Some(wanted) {
                    return Err(format!(
                        "failed to delete {}, index is stale",
                        on_node("service", id, node)
                    ));
                }
                self.delete_service(index, &key);
                Ok(Vec::new())
            }
        }
    }

    fn txn_check(&mut self, index: Index, op: &CheckOp) -> OpResult {
        let node = op.check.node.as_str();
        let id = op.check.id.as_str();
        let key = (fold(node), fold(id));
        let current = self
            .checks
            .get(&key)
            .map(|check| check.indexes.modify_index);
        let wanted = op.check.indexes.modify_index;
        let result = |store: &Store| -> OpResult {
            Ok(store
                .checks
                .get(&key)
                .map(|check| TxnResult::Check(Box::new(check.clone())))
                .into_iter()
                .collect())
        };
        match op.verb {
            CatalogVerb::Get => match current {
                Some(_) => result(self),
                None => Err(format!("{} doesn't exist", on_node("check", id, node))),
            },
            CatalogVerb::Set | CatalogVerb::Cas => {
                if op.verb == CatalogVerb::Cas && !cas_holds(current, wanted) {
                    return Err(format!(
                        "failed to set {}, index is stale",
                        on_node("check", id, node)
                    ));
                }
                let Some(stored_node) = self.nodes.get(&key.0).cloned() else {
                    return Err(ApplyError::MissingNode.to_string());
                };
                let registration = Registration {
                    node: stored_node,
                    skip_node_update: true,
                    service: None,
                    checks: vec![op.check.clone()],
                };
                self.register(index, &registration)
                    .map_err(|error| error.to_string())?;
                result(self)
            }
            CatalogVerb::Delete => {
                self.delete_check(index, &key);
                Ok(Vec::new())
            }
            CatalogVerb::DeleteCas => {
                if current != Some(wanted) {
                    return Err(format!(
                        "failed to delete {}, index is stale",
                        on_node("check", id, node)
                    ));
                }
                self.delete_check(index, &key);
                Ok(Vec::new())
            }
        }
    }
}

/// Consul's check-and-set rule for catalog records: index 0 means "only if absent", any
/// other index must equal the stored record's `ModifyIndex`.
fn cas_holds(current: Option<Index>, wanted: Index) -> bool {
    match current {
        None => wanted == Index::ZERO,
        Some(current) => wanted != Index::ZERO && current == wanted,
    }
}
