//! `/v1/catalog/connect/:service` and `/v1/health/connect/:service`: served like the plain
//! service listings (parameters, read headers, `?filter=`, blocking), but listing only
//! instances that accept mesh connections, which Legate's catalog cannot name: `[]`.

use crate::harness::Harness;
use serde_json::json;
use std::time::Duration;
use tokio::time::sleep;

const LISTINGS: [&str; 2] = ["/v1/catalog/connect/", "/v1/health/connect/"];

#[tokio::test]
async fn a_plain_service_has_no_connect_instances() {
    let api = Harness::new();
    api.instance("n1", "web-1", "web", &["v1"], "passing").await;
    // Even one registered with a mesh kind: the catalog keeps no proxy destination.
    api.register(json!({
        "Node": "n1", "Address": "10.0.0.1",
        "Service": {"ID": "web-proxy", "Service": "web", "Kind": "connect-proxy", "Port": 21000}
    }))
    .await;
    for listing in LISTINGS {
        for path in [
            format!("{listing}web"),
            format!("{listing}web?passing&tag=v1"),
            format!("{listing}nope"),
        ] {
            let reply = api.get(&path).await;
            assert_eq!(
                (reply.status, reply.text()),
                (200, "[]".to_owned()),
                "{path}"
            );
            reply.assert_read_headers();
            assert_eq!(reply.header("content-type"), Some("application/json"));
        }
        // The index is the service's, as the plain listing reports it.
        let plain = listing.replace("connect", "service");
        assert_eq!(
            api.get(&format!("{listing}web")).await.index(),
            api.get(&format!("{plain}web")).await.index(),
            "{listing}"
        );
    }
}

#[tokio::test]
async fn connect_listings_take_the_service_listings_parameters() {
    let api = Harness::new();
    for listing in LISTINGS {
        let missing = api.get(listing).await;
        assert_eq!(
            (missing.status, missing.text()),
            (400, "Missing service name".to_owned()),
            "{listing}"
        );
        let bad = api.get(&format!("{listing}web?filter=foo")).await;
        assert_eq!(bad.status, 500, "{listing}");
        assert!(
            bad.text()
                .starts_with("Failed to create boolean expression evaluator: "),
            "{}",
            bad.text()
        );
        // A selector of the listing's own record: `structs.ServiceNode` for the catalog,
        // `structs.CheckServiceNode` for health.
        let selector = if listing.contains("catalog") {
            "ServiceName"
        } else {
            "Service.Service"
        };
        let good = api
            .get(&format!("{listing}web?filter={selector}%20%3D%3D%20web"))
            .await;
        assert_eq!(good.status, 200, "{listing}: {}", good.text());
        let stale = api.get(&format!("{listing}web?stale")).await;
        assert_eq!(
            stale.header("X-Consul-Effective-Consistency"),
            Some("stale")
        );
        let refused = api.get(&format!("{listing}web?ns=team")).await;
        assert_eq!(refused.status, 400, "{listing}");
        let post = api.post(&format!("{listing}web"), "").await;
        assert_eq!(post.status, 405, "{listing}");
    }
    let bad_passing = api.get("/v1/health/connect/web?passing=maybe").await;
    assert_eq!(
        (bad_passing.status, bad_passing.text()),
        (400, "Invalid value for ?passing".to_owned())
    );
}

#[tokio::test(start_paused = true)]
async fn a_blocked_connect_listing_waits_on_the_services_index() {
    let api = Harness::new();
    api.instance("n1", "web-1", "web", &[], "passing").await;
    for listing in LISTINGS {
        let first = api.get(&format!("{listing}web")).await;
        let waiter = api.spawn_get(&format!("{listing}web?index={}&wait=60s", first.index()));
        sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished(), "{listing} answered before any write");
        api.instance(
            "n2",
            &format!("web-{}", first.index() + 1),
            "web",
            &[],
            "passing",
        )
        .await;
        let woken = waiter.await.unwrap();
        assert_eq!(woken.status, 200);
        assert!(woken.index() > first.index(), "{listing}");
        assert_eq!(woken.json(), json!([]));
    }
}
