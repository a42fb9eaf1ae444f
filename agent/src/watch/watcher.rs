//! `Watcher`: a watch's query driven by its plan, yielding each answer the handler should
//! see. The I/O shell around `plan`; its callers decide what firing means.

use super::fetch::Answer;
use super::plan::{Plan, Step};
use super::spec::WatchQuery;
use legate_api::client::{Client, ClientError};
use std::time::Duration;

pub struct Watcher {
    query: WatchQuery,
    client: Client,
    plan: Plan,
}

/// A query that failed, and how long the plan waits before the next (the caller sleeps,
/// so that it can report the failure and stay cancellable meanwhile).
#[derive(Debug)]
pub struct Failed {
    pub error: ClientError,
    pub retry: Duration,
}

impl Watcher {
    /// A watcher of `query` against the agent at `base_url` (`http://127.0.0.1:8500`).
    pub fn new(query: WatchQuery, base_url: &str) -> Watcher {
        Watcher {
            client: query.client(base_url),
            plan: Plan::new(query.order()),
            query,
        }
    }

    pub fn query(&self) -> &WatchQuery {
        &self.query
    }

    /// Blocks until an answer fires (see `plan`), or a query fails.
    pub async fn next(&mut self) -> Result<Answer, Failed> {
        loop {
            match self.query.fetch(&self.client, self.plan.wait_index()).await {
                Ok(answer) => {
                    if self.plan.observe(answer.index, answer.result.clone()) == Step::Fire {
                        return Ok(answer);
                    }
                }
                Err(error) => {
                    return Err(Failed {
                        error,
                        retry: self.plan.failed(),
                    })
                }
            }
        }
    }
}
