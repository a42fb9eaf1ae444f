//! Session and transaction calls of `Client`.

use super::{Client, ClientError, Query, QueryMeta, QueryOptions};
use crate::params::percent_encode_path;
use crate::types::session::{SessionCreated, SessionEntry, SessionRequest};
use crate::types::txn::{TxnOpBody, TxnResponse};

impl Client {
    /// `PUT /v1/session/create`: the new session's id.
    pub async fn session_create(
        &self,
        request: &SessionRequest,
        datacenter: Option<&str>,
    ) -> Result<String, ClientError> {
        let body = serde_json::to_vec(request).map_err(|e| ClientError::Decode(e.to_string()))?;
        let created: SessionCreated = self
            .call(
                reqwest::Method::PUT,
                &Self::encode("/v1/session/create", &dc_query(datacenter)),
                Some(body),
            )
            .await?;
        Ok(created.id)
    }

    /// `PUT /v1/session/destroy/<id>`.
    pub async fn session_destroy(&self, id: &str) -> Result<bool, ClientError> {
        let path = format!("/v1/session/destroy/{}", percent_encode_path(id));
        self.call(reqwest::Method::PUT, &path, None).await
    }

    /// `PUT /v1/session/renew/<id>`: the session, or `None` once it is gone (404), which
    /// means any lock it held is lost.
    pub async fn session_renew(&self, id: &str) -> Result<Option<SessionEntry>, ClientError> {
        let path = format!("/v1/session/renew/{}", percent_encode_path(id));
        match self
            .call::<Vec<SessionEntry>>(reqwest::Method::PUT, &path, None)
            .await
        {
            Ok(mut sessions) => Ok(sessions.pop()),
            Err(ClientError::Status { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `GET /v1/session/info/<id>`.
    pub async fn session_info(
        &self,
        id: &str,
        options: &QueryOptions,
    ) -> Result<(Option<SessionEntry>, QueryMeta), ClientError> {
        let path = format!("/v1/session/info/{}", percent_encode_path(id));
        let (mut sessions, meta) = self
            .read_found::<Vec<SessionEntry>>(&path, Query::new(), options)
            .await?;
        Ok((sessions.pop(), meta))
    }

    /// `GET /v1/session/list`.
    pub async fn session_list(
        &self,
        options: &QueryOptions,
    ) -> Result<(Vec<SessionEntry>, QueryMeta), ClientError> {
        self.read_found("/v1/session/list", Query::new(), options)
            .await
    }

    /// `GET /v1/session/node/<node>`.
    pub async fn session_node(
        &self,
        node: &str,
        options: &QueryOptions,
    ) -> Result<(Vec<SessionEntry>, QueryMeta), ClientError> {
        let path = format!("/v1/session/node/{}", percent_encode_path(node));
        self.read_found(&path, Query::new(), options).await
    }

    /// `PUT /v1/txn`: the answer for 200 and 409 alike (`Errors` set on 409).
    pub async fn txn(&self, ops: &[TxnOpBody]) -> Result<TxnResponse, ClientError> {
        let body = serde_json::to_vec(ops).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.call_accepting(reqwest::Method::PUT, "/v1/txn", Some(body), &[409])
            .await
    }
}

fn dc_query(datacenter: Option<&str>) -> Query {
    datacenter
        .map(|dc| vec![("dc".to_owned(), dc.to_owned())])
        .unwrap_or_default()
}
