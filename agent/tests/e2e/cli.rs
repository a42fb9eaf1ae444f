//! The client verbs against a real agent, printing what `consul` prints.

use crate::harness::{cli, Agent};

#[test]
fn kv_catalog_and_members_verbs() {
    let agent = Agent::server(&[]);
    let addr = format!("-http-addr=127.0.0.1:{}", agent.http_port);
    let run = |args: &[&str]| {
        let mut full: Vec<&str> = args.to_vec();
        full.insert(2.min(full.len()), &addr);
        cli(&full)
    };

    let (code, out, _) = run(&["kv", "put", "app/port", "8080"]);
    assert_eq!(
        (code, out.trim()),
        (0, "Success! Data written to: app/port")
    );
    run(&["kv", "put", "app/name", "web"]);
    let (code, out, _) = run(&["kv", "get", "app/port"]);
    assert_eq!((code, out.trim()), (0, "8080"));
    let (_, out, _) = run(&["kv", "get", "-recurse", "app/"]);
    assert_eq!(out, "app/name:web\napp/port:8080\n");
    let (_, out, _) = run(&["kv", "get", "-keys", "app/"]);
    assert_eq!(out, "app/name\napp/port\n");
    let (_, out, _) = run(&["kv", "get", "-detailed", "app/port"]);
    assert!(out.contains("ModifyIndex") && out.contains("8080"), "{out}");

    // Check-and-set: create-only fails on an existing key, and the exit code says so.
    let (code, _, err) = run(&["kv", "put", "-cas", "-modify-index=0", "app/port", "9"]);
    assert_eq!(code, 1);
    assert!(err.contains("CAS failed"), "{err}");
    let (code, _, _) = run(&["kv", "put", "-flags=7", "app/flagged", "x"]);
    assert_eq!(code, 0);

    let (code, out, _) = run(&["kv", "delete", "app/name"]);
    assert_eq!((code, out.trim()), (0, "Success! Deleted key: app/name"));
    let (code, _, err) = run(&["kv", "get", "app/name"]);
    assert_eq!(code, 1);
    assert!(err.contains("No key exists at: app/name"));
    let (code, out, _) = run(&["kv", "delete", "-recurse", "app/"]);
    assert_eq!(
        (code, out.trim()),
        (0, "Success! Deleted keys with prefix: app/")
    );

    let (_, out, _) = run(&["catalog", "services"]);
    assert!(out.lines().any(|line| line == "consul"), "{out}");
    let (_, out, _) = run(&["catalog", "nodes"]);
    assert!(out.starts_with("Node") && out.contains("e2e-node"), "{out}");
    let (_, out, _) = run(&["catalog", "datacenters"]);
    assert_eq!(out.trim(), "dc1");
    let (_, out, _) = run(&["members"]);
    assert!(
        out.contains("e2e-node") && out.contains("alive") && out.contains("server"),
        "{out}"
    );

    // CONSUL_HTTP_ADDR works as in Consul.
    let output = std::process::Command::new(crate::harness::legate())
        .args(["kv", "get", "app/flagged"])
        .env(
            "CONSUL_HTTP_ADDR",
            format!("http://127.0.0.1:{}", agent.http_port),
        )
        .output()
        .unwrap();
    assert!(
        output.status.code() == Some(1),
        "deleted by the recursive delete"
    );

    let (code, out, _) = cli(&["version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Legate v"));
}

#[test]
fn a_down_agent_is_an_error_not_a_panic() {
    let port = crate::harness::free_port();
    let (code, _, err) = cli(&["kv", "get", &format!("-http-addr=127.0.0.1:{port}"), "k"]);
    assert_eq!(code, 1);
    assert!(!err.contains("panicked"), "{err}");
}
