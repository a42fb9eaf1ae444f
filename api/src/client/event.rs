//! User event calls of `Client`: fire and (blocking) list.

use super::{Client, ClientError, Query, QueryMeta, QueryOptions, CALL_TIMEOUT};
use super::{DEFAULT_WAIT, READ_MARGIN};
use crate::backend::event::FireRequest;
use crate::params::percent_encode_path;
use crate::types::Event;

impl Client {
    /// `PUT /v1/event/fire/<name>[?node=&service=&tag=&dc=]`: the event as fired.
    pub async fn event_fire(
        &self,
        request: &FireRequest,
        datacenter: Option<&str>,
    ) -> Result<Event, ClientError> {
        let path = format!("/v1/event/fire/{}", percent_encode_path(&request.name));
        let mut query = Query::new();
        let mut push = |key: &str, value: &str| {
            if !value.is_empty() {
                query.push((key.to_owned(), value.to_owned()));
            }
        };
        push("dc", datacenter.unwrap_or_default());
        push("node", &request.node_filter);
        push("service", &request.service_filter);
        push("tag", &request.tag_filter);
        self.call(
            reqwest::Method::PUT,
            &Self::encode(&path, &query),
            request.payload.clone(),
        )
        .await
    }

    /// `GET /v1/event/list[?name=]`: this agent's events, oldest first. With
    /// `options.index`, blocks until the list's index differs from it. Only
    /// `X-Consul-Index` is read: it is all Consul sends here.
    pub async fn event_list(
        &self,
        name: Option<&str>,
        options: &QueryOptions,
    ) -> Result<(Vec<Event>, QueryMeta), ClientError> {
        let mut query = Query::new();
        if let Some(name) = name.filter(|name| !name.is_empty()) {
            query.push(("name".to_owned(), name.to_owned()));
        }
        query.extend(Self::query_of(options));
        let timeout = if options.index > 0 {
            let wait = options.wait.unwrap_or(DEFAULT_WAIT);
            wait + wait / 16 + READ_MARGIN
        } else {
            CALL_TIMEOUT
        };
        let response = self
            .send(
                reqwest::Method::GET,
                &Self::encode("/v1/event/list", &query),
                None,
                timeout,
            )
            .await?;
        if !response.status().is_success() {
            return Err(Self::fail(response).await);
        }
        let index = response
            .headers()
            .get("X-Consul-Index")
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| ClientError::Decode("missing header X-Consul-Index".into()))?;
        let bytes = response.bytes().await?;
        let events = serde_json::from_slice(&bytes)
            .map_err(|error| ClientError::Decode(error.to_string()))?;
        Ok((
            events,
            QueryMeta {
                index,
                ..QueryMeta::default()
            },
        ))
    }
}
