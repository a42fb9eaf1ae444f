//! `Client` calls for `/v1/operator/*`: Raft, autopilot and the keyring.

use super::{Client, ClientError, Query};
use crate::reply;
use crate::types::{
    AutopilotConfiguration, AutopilotState, KeyringResponse, OperatorHealthReply,
    RaftConfiguration, TransferLeaderResponse,
};
use serde_json::json;

/// Which peer to remove from the Raft configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerBy<'a> {
    Id(&'a str),
    Address(&'a str),
}

/// Options of a keyring call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyringOptions {
    /// `?relay-factor=` (0 to 5; 0 is not sent).
    pub relay_factor: u8,
    /// `?local-only=true` (lists only).
    pub local_only: bool,
}

impl KeyringOptions {
    fn query(&self) -> Query {
        let mut query = Query::new();
        if self.relay_factor > 0 {
            query.push(("relay-factor".to_owned(), self.relay_factor.to_string()));
        }
        if self.local_only {
            query.push(("local-only".to_owned(), "true".to_owned()));
        }
        query
    }
}

impl Client {
    // ---- Raft ----

    /// `GET /v1/operator/raft/configuration[?stale]`.
    pub async fn raft_configuration(&self, stale: bool) -> Result<RaftConfiguration, ClientError> {
        let path = if stale {
            "/v1/operator/raft/configuration?stale"
        } else {
            "/v1/operator/raft/configuration"
        };
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `DELETE /v1/operator/raft/peer?id=|address=`.
    pub async fn raft_remove_peer(&self, by: PeerBy<'_>) -> Result<(), ClientError> {
        let query = match by {
            PeerBy::Id(id) => vec![("id".to_owned(), id.to_owned())],
            PeerBy::Address(address) => vec![("address".to_owned(), address.to_owned())],
        };
        let target = Self::encode("/v1/operator/raft/peer", &query);
        self.call_empty_with(reqwest::Method::DELETE, &target, None)
            .await
    }

    /// `POST /v1/operator/raft/transfer-leader[?id=]`: whether the server reported success.
    pub async fn raft_transfer_leader(&self, id: Option<&str>) -> Result<bool, ClientError> {
        let query: Query = id
            .map(|id| vec![("id".to_owned(), id.to_owned())])
            .unwrap_or_default();
        let target = Self::encode("/v1/operator/raft/transfer-leader", &query);
        let answer: TransferLeaderResponse =
            self.call(reqwest::Method::POST, &target, None).await?;
        Ok(answer.success)
    }

    // ---- Autopilot ----

    /// `GET /v1/operator/autopilot/configuration[?stale]`.
    pub async fn autopilot_configuration(
        &self,
        stale: bool,
    ) -> Result<AutopilotConfiguration, ClientError> {
        let path = if stale {
            "/v1/operator/autopilot/configuration?stale"
        } else {
            "/v1/operator/autopilot/configuration"
        };
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `PUT /v1/operator/autopilot/configuration[?cas=]`: `false` when `cas` no longer
    /// matched the stored `ModifyIndex`.
    pub async fn autopilot_set_configuration(
        &self,
        config: &AutopilotConfiguration,
        cas: Option<u64>,
    ) -> Result<bool, ClientError> {
        let query: Query = cas
            .map(|index| vec![("cas".to_owned(), index.to_string())])
            .unwrap_or_default();
        let target = Self::encode("/v1/operator/autopilot/configuration", &query);
        let body = reply::to_json(config, false);
        self.call(reqwest::Method::PUT, &target, Some(body)).await
    }

    /// `GET /v1/operator/autopilot/health`, read on 200 and on the 429 an unhealthy
    /// cluster answers with (`Healthy` says which).
    pub async fn autopilot_health(&self) -> Result<OperatorHealthReply, ClientError> {
        self.call_accepting(
            reqwest::Method::GET,
            "/v1/operator/autopilot/health",
            None,
            &[429],
        )
        .await
    }

    /// `GET /v1/operator/autopilot/state[?stale]`.
    pub async fn autopilot_state(&self, stale: bool) -> Result<AutopilotState, ClientError> {
        let path = if stale {
            "/v1/operator/autopilot/state?stale"
        } else {
            "/v1/operator/autopilot/state"
        };
        self.call(reqwest::Method::GET, path, None).await
    }

    // ---- Keyring ----

    /// `GET /v1/operator/keyring`: every ring's keys.
    pub async fn keyring_list(
        &self,
        options: KeyringOptions,
    ) -> Result<Vec<KeyringResponse>, ClientError> {
        let target = Self::encode("/v1/operator/keyring", &options.query());
        self.call(reqwest::Method::GET, &target, None).await
    }

    /// `POST /v1/operator/keyring`: installs `key` on every member.
    pub async fn keyring_install(
        &self,
        key: &str,
        options: KeyringOptions,
    ) -> Result<(), ClientError> {
        self.keyring_change(reqwest::Method::POST, key, options)
            .await
    }

    /// `PUT /v1/operator/keyring`: makes the installed `key` the primary.
    pub async fn keyring_use(&self, key: &str, options: KeyringOptions) -> Result<(), ClientError> {
        self.keyring_change(reqwest::Method::PUT, key, options)
            .await
    }

    /// `DELETE /v1/operator/keyring`: removes `key`, which must not be the primary.
    pub async fn keyring_remove(
        &self,
        key: &str,
        options: KeyringOptions,
    ) -> Result<(), ClientError> {
        self.keyring_change(reqwest::Method::DELETE, key, options)
            .await
    }

    async fn keyring_change(
        &self,
        method: reqwest::Method,
        key: &str,
        options: KeyringOptions,
    ) -> Result<(), ClientError> {
        let target = Self::encode("/v1/operator/keyring", &options.query());
        let body = reply::to_json(&json!({ "Key": key }), false);
        self.call_empty_with(method, &target, Some(body)).await
    }
}
