//! `/v1/kv`: values, listings, keys, cas, flags, raw, deletes and Consul's refusals.

use crate::harness::Harness;
use serde_json::json;

#[tokio::test]
async fn put_then_get_answers_consul_shapes_and_headers() {
    let api = Harness::new();
    let put = api.put("/v1/kv/app/config", "hello").await;
    assert_eq!((put.status, put.text()), (200, "true".to_owned()));
    assert_eq!(put.header("content-type"), Some("application/json"));

    let got = api.get("/v1/kv/app/config").await;
    assert_eq!(got.status, 200);
    got.assert_read_headers();
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("X-Consul-KnownLeader"), Some("true"));
    assert_eq!(got.header("X-Consul-LastContact"), Some("0"));
    assert_eq!(got.header("X-Consul-Effective-Consistency"), Some("leader"));
    let index = got.index();
    assert_eq!(
        got.json(),
        json!([{"Key":"app/config","CreateIndex":index,"ModifyIndex":index,"LockIndex":0,
                "Flags":0,"Value":"aGVsbG8="}])
    );
    let stale = api.get("/v1/kv/app/config?stale").await;
    assert_eq!(
        stale.header("X-Consul-Effective-Consistency"),
        Some("stale")
    );
}

#[tokio::test]
async fn a_missing_key_is_an_empty_404_with_index_headers() {
    let api = Harness::new();
    let missing = api.get("/v1/kv/nope").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty());
    missing.assert_read_headers();
    assert_eq!(missing.index(), 1, "an empty store still answers index 1");

    api.put("/v1/kv/other", "x").await;
    let later = api.get("/v1/kv/nope").await;
    assert_eq!(later.status, 404);
    assert_eq!(later.index(), api.backend.last_index().0);
}

#[tokio::test]
async fn raw_answers_the_bare_value_safely() {
    let api = Harness::new();
    api.put("/v1/kv/page", "<script>alert(1)</script>").await;
    let raw = api.get("/v1/kv/page?raw").await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.text(), "<script>alert(1)</script>");
    assert_eq!(raw.header("content-type"), Some("text/plain"));
    assert_eq!(raw.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(raw.header("content-security-policy"), Some("sandbox"));
    raw.assert_read_headers();
}

#[tokio::test]
async fn recurse_lists_in_key_order_and_404s_when_empty() {
    let api = Harness::new();
    for key in ["b/2", "a", "b/1", "c"] {
        api.put(&format!("/v1/kv/{key}"), key).await;
    }
    let listed = api.get("/v1/kv/b/?recurse").await;
    let keys: Vec<_> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Key"].clone())
        .collect();
    assert_eq!(keys, [json!("b/1"), json!("b/2")]);
    let everything = api.get("/v1/kv/?recurse").await;
    assert_eq!(everything.json().as_array().unwrap().len(), 4);

    let none = api.get("/v1/kv/zzz/?recurse").await;
    assert_eq!((none.status, none.body.len()), (404, 0));
    none.assert_read_headers();
    let empty = Harness::new();
    let root = empty.get("/v1/kv/?recurse").await;
    assert_eq!(
        root.status, 404,
        "even the root prefix answers 404 when empty"
    );
}

#[tokio::test]
async fn keys_roll_up_at_the_separator() {
    let api = Harness::new();
    for key in ["web/a", "web/sub/x", "web/sub/y", "db/a"] {
        api.put(&format!("/v1/kv/{key}"), "v").await;
    }
    let rolled = api.get("/v1/kv/web/?keys&separator=/").await;
    assert_eq!(rolled.json(), json!(["web/a", "web/sub/"]));
    let misspelled = api.get("/v1/kv/?keys&seperator=/").await;
    assert_eq!(misspelled.json(), json!(["db/", "web/"]));
    let flat = api.get("/v1/kv/web/?keys").await;
    assert_eq!(flat.json(), json!(["web/a", "web/sub/x", "web/sub/y"]));
    let absent = api.get("/v1/kv/nothing/?keys").await;
    assert_eq!(absent.status, 404);
    absent.assert_read_headers();

    let empty = Harness::new();
    let root = empty.get("/v1/kv/?keys").await;
    assert_eq!((root.status, root.json()), (200, json!([])));
    root.assert_read_headers();
}

#[tokio::test]
async fn cas_flags_and_empty_values() {
    let api = Harness::new();
    assert_eq!(api.put("/v1/kv/lock?cas=0", "a").await.text(), "true");
    assert_eq!(api.put("/v1/kv/lock?cas=0", "b").await.text(), "false");
    let index = api.get("/v1/kv/lock").await.index();
    assert_eq!(
        api.put(&format!("/v1/kv/lock?cas={index}"), "c")
            .await
            .text(),
        "true"
    );
    assert_eq!(
        api.put(&format!("/v1/kv/lock?cas={index}"), "d")
            .await
            .text(),
        "false"
    );

    api.put("/v1/kv/flagged?flags=3304740253564472344", "x")
        .await;
    let flagged = api.get("/v1/kv/flagged").await.json();
    assert_eq!(flagged[0]["Flags"], json!(3304740253564472344u64));

    api.put("/v1/kv/folder/", "").await;
    let folder = api.get("/v1/kv/folder/").await.json();
    assert_eq!(folder[0]["Value"], serde_json::Value::Null);
}

#[tokio::test]
async fn deletes_plain_cas_and_recursive() {
    let api = Harness::new();
    for key in ["t/a", "t/b", "u"] {
        api.put(&format!("/v1/kv/{key}"), "v").await;
    }
    let index = api.get("/v1/kv/u").await.index();
    assert_eq!(
        api.delete(&format!("/v1/kv/u?cas={}", index - 1))
            .await
            .text(),
        "false"
    );
    assert_eq!(
        api.delete(&format!("/v1/kv/u?cas={index}")).await.text(),
        "true"
    );
    assert_eq!(api.get("/v1/kv/u").await.status, 404);
    assert_eq!(api.delete("/v1/kv/never").await.text(), "true");
    assert_eq!(api.delete("/v1/kv/t/?recurse").await.text(), "true");
    assert_eq!(api.get("/v1/kv/t/?recurse").await.status, 404);
}

#[tokio::test]
async fn kv_refusals_use_consul_texts() {
    let api = Harness::new();
    let missing = api.get("/v1/kv/").await;
    assert_eq!(
        (missing.status, missing.text()),
        (400, "Missing key name".to_owned())
    );
    assert_eq!(api.put("/v1/kv/", "x").await.status, 400);
    assert_eq!(api.delete("/v1/kv/").await.text(), "Missing key name");

    let conflict = api.put("/v1/kv/k?cas=1&acquire=x", "").await;
    assert_eq!(conflict.status, 400);
    assert_eq!(conflict.text(), "Conflicting flags: acquire=x&cas=1\n");
    let conflict = api.delete("/v1/kv/k?recurse&cas=1").await;
    assert!(conflict.text().starts_with("Conflicting flags"));
    let bad_cas = api.delete("/v1/kv/k?cas=abc").await;
    assert_eq!(bad_cas.status, 500);
    assert_eq!(
        bad_cas.text(),
        "strconv.ParseUint: parsing \"abc\": invalid syntax"
    );

    let acquire = api.put("/v1/kv/k?acquire=12345678-dead", "x").await;
    assert_eq!(acquire.status, 500);
    assert_eq!(acquire.text(), "invalid session \"12345678-dead\"");
    assert_eq!(
        api.put("/v1/kv/k?acquire=", "x").await.text(),
        "missing session"
    );
    let release = api.put("/v1/kv/k?release=12345678-dead", "x").await;
    assert_eq!((release.status, release.text()), (200, "false".to_owned()));
    assert_eq!(api.get("/v1/kv/k").await.status, 404, "nothing was written");
}

#[tokio::test]
async fn values_over_the_limit_are_refused_with_413() {
    let api = Harness::new();
    let big = vec![b'x'; 512 * 1024 + 1];
    let refused = api.put("/v1/kv/big", big).await;
    assert_eq!(refused.status, 413);
    assert!(refused
        .text()
        .starts_with("Request body(524289 bytes) too large, max size: 524288 bytes."));
    assert_eq!(api.get("/v1/kv/big").await.status, 404);
    let exact = vec![b'x'; 512 * 1024];
    assert_eq!(api.put("/v1/kv/big", exact).await.status, 200);
}

#[tokio::test]
async fn keys_are_normalised_like_consuls_mux() {
    let api = Harness::new();
    api.put("/v1/kv//lead", "1").await;
    assert_eq!(api.get("/v1/kv/lead").await.json()[0]["Key"], "lead");
    api.put("/v1/kv/a//b/./c", "2").await;
    assert_eq!(api.get("/v1/kv/a/b/c").await.status, 200);
    api.put("/v1/kv/enc%2Fkey%20x", "3").await;
    assert_eq!(api.get("/v1/kv/enc/key%20x").await.status, 200);
    let traversal = api.get("/v1/kv/a/../b").await;
    assert_eq!(traversal.status, 400);
    assert_eq!(
        traversal.text(),
        "URL path contains invalid traversal sequence"
    );
}

#[tokio::test]
async fn pretty_indents_like_go() {
    let api = Harness::new();
    api.put("/v1/kv/p", "v").await;
    let pretty = api.get("/v1/kv/p?pretty").await.text();
    assert!(
        pretty.starts_with("[\n    {\n        \"Key\": \"p\","),
        "{pretty}"
    );
    assert!(pretty.ends_with("}\n]\n"));
    assert_eq!(api.put("/v1/kv/p?pretty", "w").await.text(), "true\n");

    let dev = Harness::with_config(legate_api::ApiConfig {
        pretty_default: true,
        ..legate_api::ApiConfig::default()
    });
    assert_eq!(dev.put("/v1/kv/p", "v").await.text(), "true\n");
}
