//! Router-level answers: unknown paths, methods, options, and backend failures.

use crate::harness::Harness;
use axum::body::Body;
use axum::http::{Method, Request};
use legate_api::backend::BackendError;
use legate_catalog::command::ApplyError;

#[tokio::test]
async fn unknown_paths_get_consuls_404_texts() {
    let api = Harness::new();
    let unknown = api.get("/v1/no/such/path").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.text(),
        "Invalid URL path: not a recognized HTTP API endpoint\n"
    );
    let not_v1 = api.get("/v2/kv/x").await;
    assert_eq!(not_v1.status, 404);
    assert!(not_v1.text().contains("ensure the path starts with '/v1/'"));
    assert_eq!(api.get("/v1/catalog/nodes/").await.status, 404);
    assert_eq!(api.get("/").await.status, 200);
}

#[tokio::test]
async fn wrong_methods_get_405_with_allow_and_options_answers_it() {
    let api = Harness::new();
    let wrong = api
        .call(Method::POST, "/v1/status/leader", Body::empty())
        .await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("OPTIONS,GET"));
    assert_eq!(wrong.text(), "method POST not allowed");
    let register = api.get("/v1/catalog/register").await;
    assert_eq!(
        (register.status, register.header("allow")),
        (405, Some("OPTIONS,PUT"))
    );

    let options = api
        .call(Method::OPTIONS, "/v1/kv/anything", Body::empty())
        .await;
    assert_eq!(options.status, 200);
    assert_eq!(options.header("allow"), Some("OPTIONS,GET,PUT,DELETE"));
    assert!(options.body.is_empty());
}

#[tokio::test]
async fn query_parameter_refusals() {
    let api = Harness::new();
    let cases = [
        ("/v1/kv/k?index=1&wait=forever", "Invalid wait time"),
        ("/v1/kv/k?index=abc", "Invalid index"),
        (
            "/v1/catalog/nodes?stale&consistent",
            "Cannot specify ?stale with ?consistent, conflicting semantics.",
        ),
        (
            "/v1/catalog/nodes?max_stale=soon",
            "Invalid max_stale value \"soon\"",
        ),
        (
            "/v1/kv/k?ns=team",
            "Invalid query parameter: \"ns\" - Namespaces are a Consul Enterprise feature",
        ),
        (
            "/v1/health/service/web?partition=default",
            "Invalid query parameter: \"partition\" - Partitions are a Consul Enterprise feature",
        ),
    ];
    for (uri, text) in cases {
        let reply = api.get(uri).await;
        assert_eq!(
            (reply.status, reply.text()),
            (400, text.to_owned()),
            "{uri}"
        );
    }
    let header = api
        .call_with(
            Request::builder()
                .uri("/v1/catalog/nodes")
                .header("X-Consul-Namespace", "default"),
            Body::empty(),
        )
        .await;
    assert_eq!(header.status, 400);
    assert!(header
        .text()
        .contains("Namespaces are a Consul Enterprise feature"));
    // Unknown and empty parameters are ignored.
    assert_eq!(
        api.get("/v1/catalog/nodes?whatever=1&ns=&filter=&cached&near=_agent")
            .await
            .status,
        200
    );
    let bad_escape = api.get("/v1/catalog/nodes?tag=%zz").await;
    assert_eq!(bad_escape.status, 400);
}

#[tokio::test]
async fn backend_failures_are_500s_with_consuls_texts() {
    let api = Harness::new();
    api.backend.fail_with(Some(BackendError::NoLeader));
    let no_leader = api.get("/v1/catalog/nodes").await;
    assert_eq!(
        (no_leader.status, no_leader.text()),
        (500, "No cluster leader".to_owned())
    );
    let write = api.put("/v1/kv/k", "v").await;
    assert_eq!(
        (write.status, write.text()),
        (500, "No cluster leader".to_owned())
    );
    api.backend
        .fail_with(Some(BackendError::Rejected(ApplyError::MissingNodeName)));
    assert_eq!(api.put("/v1/kv/k", "v").await.text(), "Must provide node");
    api.backend
        .fail_with(Some(BackendError::Indeterminate("leadership lost".into())));
    assert_eq!(
        api.put("/v1/kv/k", "v").await.text(),
        "rpc error: leadership lost"
    );
    api.backend.fail_with(None);

    let far = api.get("/v1/catalog/nodes?dc=dc9").await;
    assert_eq!(
        (far.status, far.text()),
        (500, "No path to datacenter".to_owned())
    );
    let far_write = api.put("/v1/kv/k?dc=dc9", "v").await;
    assert_eq!(far_write.text(), "No path to datacenter");
    let far_register = api
        .put(
            "/v1/catalog/register",
            r#"{"Datacenter":"dc9","Node":"n","Address":"a"}"#,
        )
        .await;
    assert_eq!(far_register.text(), "No path to datacenter");
    let local = api.get("/v1/catalog/nodes?dc=dc1").await;
    assert_eq!(
        local.status, 200,
        "naming the local datacenter is not forwarding"
    );
}

#[tokio::test]
async fn known_leader_follows_the_backend() {
    let api = Harness::new();
    api.backend.set_leader(None);
    let read = api.get("/v1/catalog/nodes?stale").await;
    assert_eq!(read.header("X-Consul-KnownLeader"), Some("false"));
    assert_eq!(api.get("/v1/status/leader").await.text(), "\"\"");
    let acquire = api.put("/v1/kv/k?acquire=s", "").await;
    assert_eq!(
        (acquire.status, acquire.text()),
        (500, "No cluster leader".to_owned())
    );
}

/// Consul's 500s keep their status; `X-Legate-Error` says which kind each is, so that a
/// refusal of what the request asked is told apart from a failure.
#[tokio::test]
async fn server_errors_name_their_kind() {
    let api = Harness::new();
    let kind = |answer: &crate::harness::Reply| answer.header("x-legate-error").map(str::to_owned);
    api.backend.fail_with(Some(BackendError::NoLeader));
    let no_leader = api.get("/v1/catalog/nodes").await;
    assert_eq!(
        (no_leader.status, kind(&no_leader)),
        (500, Some("unavailable".into()))
    );
    api.backend
        .fail_with(Some(BackendError::Rejected(ApplyError::MissingNodeName)));
    let rejected = api.put("/v1/kv/k", "v").await;
    assert_eq!(
        (rejected.status, kind(&rejected)),
        (500, Some("refused".into()))
    );
    api.backend
        .fail_with(Some(BackendError::Refused("cannot find a server".into())));
    let refused = api.put("/v1/kv/k", "v").await;
    assert_eq!(
        (refused.status, refused.text(), kind(&refused)),
        (
            500,
            "cannot find a server".to_owned(),
            Some("refused".into())
        )
    );
    api.backend
        .fail_with(Some(BackendError::Indeterminate("leadership lost".into())));
    let unknown = api.put("/v1/kv/k", "v").await;
    assert_eq!(kind(&unknown), Some("indeterminate".into()));
    api.backend
        .fail_with(Some(BackendError::Internal("disk on fire".into())));
    assert_eq!(
        kind(&api.put("/v1/kv/k", "v").await),
        Some("internal".into())
    );
    api.backend.fail_with(None);

    let far = api.get("/v1/catalog/nodes?dc=dc9").await;
    assert_eq!(kind(&far), Some("refused".into()));
    let bad_filter = api.get("/v1/catalog/nodes?filter=%3D%3D").await;
    assert_eq!(
        (bad_filter.status, kind(&bad_filter)),
        (500, Some("refused".into()))
    );
    // Client errors need no kind: their status says it.
    let bad_index = api.get("/v1/catalog/nodes?index=x").await;
    assert_eq!((bad_index.status, kind(&bad_index)), (400, None));
}
