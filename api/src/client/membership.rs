//! `Client` calls for this agent's membership: join, leave and force-leave.

use super::{Client, ClientError, Query};
use crate::params::percent_encode_path;

impl Client {
    /// `PUT /v1/agent/join/<address>[?wan=1]`.
    pub async fn join(&self, address: &str, wan: bool) -> Result<(), ClientError> {
        let path = format!("/v1/agent/join/{}", percent_encode_path(address));
        let mut query = Query::new();
        if wan {
            query.push(("wan".to_owned(), "1".to_owned()));
        }
        self.call_empty(&Self::encode(&path, &query), None).await
    }

    /// `PUT /v1/agent/leave`: the agent leaves gracefully, then shuts down.
    pub async fn leave(&self) -> Result<(), ClientError> {
        self.call_empty("/v1/agent/leave", None).await
    }

    /// `PUT /v1/agent/force-leave/<node>[?prune=1][&wan=1]`, as the Go client's
    /// `ForceLeaveOpts` sends it.
    pub async fn force_leave(&self, node: &str, prune: bool, wan: bool) -> Result<(), ClientError> {
        let path = format!("/v1/agent/force-leave/{}", percent_encode_path(node));
        let mut query = Query::new();
        if prune {
            query.push(("prune".to_owned(), "1".to_owned()));
        }
        if wan {
            query.push(("wan".to_owned(), "1".to_owned()));
        }
        self.call_empty(&Self::encode(&path, &query), None).await
    }
}
