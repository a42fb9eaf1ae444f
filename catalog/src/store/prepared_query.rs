//! The prepared queries table.
//!
//! Rules (Consul's):
//! 1. Names are unique among queries, compared as written; a name may not be another
//!    query's id either. An empty name is allowed (an unnamed query, or the catch-all
//!    template).
//! 2. A query bound to a session needs the session to exist, and goes when the session is
//!    invalidated (`session::invalidate_session` calls `drop_session_queries`).
//! 3. Resolving a name: a query with that id, else with exactly that name, else the template
//!    with the longest name that starts the asked-for name.

use super::Store;
use crate::command::{ApplyError, CommandResult, Outcome, QuerySet};
use crate::types::{Index, PreparedQuery, RaftIndexes};
use crate::watch::Touched;

impl Store {
    pub(super) fn query_set(&mut self, index: Index, set: &QuerySet) -> CommandResult {
        let query = &set.query;
        let existing = self.queries.get(&query.id);
        match (set.create, existing) {
            (true, Some(_)) => return Err(ApplyError::QueryExists(query.id.clone())),
            (false, None) => return Err(ApplyError::MissingQuery(query.id.clone())),
            _ => {}
        }
        if !query.name.is_empty() {
            let taken = self.queries.values().any(|other| {
                other.id != query.id && (other.name == query.name || other.id == query.name)
            });
            if taken {
                return Err(ApplyError::QueryNameTaken(query.name.clone()));
            }
        }
        if let Some(session) = &query.session {
            if !self.sessions.contains_key(session.as_str()) {
                return Err(ApplyError::InvalidSession(session.clone()));
            }
        }
        let create_index = existing.map_or(index, |stored| stored.indexes.create_index);
        let stored = PreparedQuery {
            indexes: RaftIndexes {
                create_index,
                modify_index: index,
            },
            ..query.clone()
        };
        self.queries.insert(query.id.clone(), stored);
        self.queries_index = index;
        self.touched.push(Touched::Queries);
        Ok(Outcome::QuerySaved(query.id.clone()))
    }

    pub(super) fn query_delete(&mut self, index: Index, id: &str) -> CommandResult {
        if self.queries.remove(id).is_none() {
            return Err(ApplyError::MissingQuery(id.to_owned()));
        }
        self.queries_index = index;
        self.touched.push(Touched::Queries);
        Ok(Outcome::Done)
    }

    /// Deletes the queries bound to an invalidated session.
    pub(super) fn drop_session_queries(&mut self, index: Index, session: &str) {
        let bound: Vec<String> = self
            .queries
            .values()
            .filter(|query| {
                query
                    .session
                    .as_ref()
                    .is_some_and(|s| s.as_str() == session)
            })
            .map(|query| query.id.clone())
            .collect();
        if bound.is_empty() {
            return;
        }
        for id in bound {
            self.queries.remove(&id);
        }
        self.queries_index = index;
        self.touched.push(Touched::Queries);
    }

    /// Every prepared query, by id.
    pub fn prepared_queries(&self) -> Vec<PreparedQuery> {
        self.queries.values().cloned().collect()
    }

    /// The query `id_or_name` names (rule 3).
    pub fn resolve_query(&self, id_or_name: &str) -> Option<&PreparedQuery> {
        if let Some(query) = self.queries.get(id_or_name) {
            return Some(query);
        }
        if let Some(query) = self
            .queries
            .values()
            .find(|query| !query.template && !query.name.is_empty() && query.name == id_or_name)
        {
            return Some(query);
        }
        self.queries
            .values()
            .filter(|query| query.template && id_or_name.starts_with(query.name.as_str()))
            .max_by_key(|query| query.name.len())
    }

    /// The index at which a prepared query last changed.
    pub fn queries_index(&self) -> Index {
        self.queries_index
    }
}
