//! Drives the router with `tower::ServiceExt::oneshot` over a `FakeBackend`.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use axum::Router;
use http_body_util::BodyExt;
use legate_api::testing::FakeBackend;
use legate_api::{router, ApiConfig};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

#[derive(Clone)]
pub struct Harness {
    pub backend: Arc<FakeBackend>,
    pub router: Router,
}

/// An answer, fully read.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    pub fn index(&self) -> u64 {
        self.header("X-Consul-Index")
            .expect("X-Consul-Index")
            .parse()
            .unwrap()
    }

    /// Asserts an answer that comes from no indexed query carries no read headers, as in
    /// Consul (agent and status endpoints, datacenters).
    pub fn assert_no_read_headers(&self) {
        for name in [
            "X-Consul-Index",
            "X-Consul-KnownLeader",
            "X-Consul-LastContact",
        ] {
            assert_eq!(self.header(name), None, "{name} on an unindexed answer");
        }
    }

    /// Asserts the read headers every read must carry.
    pub fn assert_read_headers(&self) {
        assert!(self.index() >= 1, "X-Consul-Index is never 0");
        assert!(matches!(
            self.header("X-Consul-KnownLeader"),
            Some("true" | "false")
        ));
        let last_contact = self.header("X-Consul-LastContact").expect("LastContact");
        last_contact
            .parse::<u64>()
            .expect("LastContact is an integer");
        assert!(self.header("X-Consul-Effective-Consistency").is_some());
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(ApiConfig::default())
    }

    pub fn with_config(config: ApiConfig) -> Harness {
        let backend = Arc::new(FakeBackend::new());
        let router = router(backend.clone(), config);
        Harness { backend, router }
    }

    pub async fn call(&self, method: Method, uri: &str, body: impl Into<Body>) -> Reply {
        self.call_with(Request::builder().method(method).uri(uri), body)
            .await
    }

    pub async fn call_with(
        &self,
        builder: axum::http::request::Builder,
        body: impl Into<Body>,
    ) -> Reply {
        let request = builder.body(body.into()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    /// Starts a GET in its own task (for blocking queries).
    pub fn spawn_get(&self, uri: &str) -> tokio::task::JoinHandle<Reply> {
        let api = self.clone();
        let uri = uri.to_owned();
        tokio::spawn(async move { api.get(&uri).await })
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, Body::empty()).await
    }

    pub async fn put(&self, uri: &str, body: impl Into<Body>) -> Reply {
        self.call(Method::PUT, uri, body).await
    }

    pub async fn post(&self, uri: &str, body: impl Into<Body>) -> Reply {
        self.call(Method::POST, uri, body).await
    }

    pub async fn delete_with(&self, uri: &str, body: impl Into<Body>) -> Reply {
        self.call(Method::DELETE, uri, body).await
    }

    /// Asserts a plain-text answer with `status` and exactly `text`.
    pub async fn expect_text(&self, reply: Reply, status: u16, text: &str) {
        assert_eq!((reply.status, reply.text()), (status, text.to_owned()));
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.call(Method::DELETE, uri, Body::empty()).await
    }

    /// Registers through the API and asserts it answered `true`.
    pub async fn register(&self, body: Value) {
        let reply = self.put("/v1/catalog/register", body.to_string()).await;
        assert_eq!(
            (reply.status, reply.text()),
            (200, "true".to_owned()),
            "{body}"
        );
    }

    /// Registers `service` (id `id`) on `node` with one service check in `status`.
    pub async fn instance(&self, node: &str, id: &str, service: &str, tags: &[&str], status: &str) {
        self.register(serde_json::json!({
            "Node": node,
            "Address": format!("10.0.0.{}", node.len()),
            "Service": {"ID": id, "Service": service, "Tags": tags, "Port": 80},
            "Check": {"CheckID": format!("{id}-check"), "Name": "probe", "Status": status,
                      "ServiceID": id},
        }))
        .await;
    }
}
