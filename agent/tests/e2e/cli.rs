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

/// Runs `legate <words> -http-addr=<agent> <rest>`: the address goes after the verb words,
/// where Consul's flag parser expects it.
fn verb(agent: &Agent, words: &[&str], rest: &[&str]) -> (i32, String, String) {
    let addr = format!("-http-addr=127.0.0.1:{}", agent.http_port);
    let mut args: Vec<&str> = words.to_vec();
    args.push(&addr);
    args.extend_from_slice(rest);
    cli(&args)
}

/// `/v1/agent/services` over plain HTTP, so the verbs are checked against the API itself.
fn agent_services(agent: &Agent) -> serde_json::Value {
    reqwest::blocking::get(agent.url("/v1/agent/services"))
        .unwrap()
        .json()
        .unwrap()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn services_register_and_deregister_verbs() {
    let agent = Agent::server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let register = ["services", "register"];
    let deregister = ["services", "deregister"];

    // From flags, with repeated tags and meta.
    let (code, out, err) = verb(
        &agent,
        &register,
        &[
            "-name=web",
            "-id=web-1",
            "-address=10.0.0.7",
            "-port=8080",
            "-tag=blue",
            "-tag",
            "v2",
            "-meta=version=1.2",
            "-meta",
            "team=core",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "Registered service: web\n"),
        "{err}"
    );
    let web = &agent_services(&agent)["web-1"];
    assert_eq!(web["Service"], "web");
    assert_eq!(web["Address"], "10.0.0.7");
    assert_eq!(web["Port"], 8080);
    assert_eq!(web["Tags"], serde_json::json!(["blue", "v2"]));
    assert_eq!(
        web["Meta"],
        serde_json::json!({"version": "1.2", "team": "core"})
    );

    // From files: a list with a check, Consul's capitalised `Service`, and a bare body.
    let list = write(
        &dir,
        "list.json",
        r#"{"datacenter":"ignored","services":[
             {"name":"db","port":5432,"check":{"ttl":"30s"}},
             {"Name":"cache","ID":"cache-1","enable_tag_override":true}]}"#,
    );
    let one = write(&dir, "one.json", r#"{"Service":{"Name":"api"}}"#);
    let bare = write(&dir, "bare.json", r#"{"Name":"queue","Port":5672}"#);
    let (code, out, err) = verb(&agent, &register, &[&list, &one, &bare, "-tag=extra"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "Registered service: db\nRegistered service: cache\n\
         Registered service: api\nRegistered service: queue\n"
    );
    let services = agent_services(&agent);
    assert_eq!(services["db"]["Port"], 5432);
    assert_eq!(services["cache-1"]["EnableTagOverride"], true);
    assert_eq!(services["queue"]["Port"], 5672);
    // Flags given with files fill in and add to each file service, as Consul's do.
    assert_eq!(services["api"]["Tags"], serde_json::json!(["extra"]));
    let checks: serde_json::Value = reqwest::blocking::get(agent.url("/v1/agent/checks"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(checks["service:db"]["ServiceID"], "db");

    // Deregister by ID, then by the services a file names (ID, or name without one).
    let (code, out, _) = verb(&agent, &deregister, &["-id=web-1"]);
    assert_eq!((code, out.as_str()), (0, "Deregistered service: web-1\n"));
    let (code, out, _) = verb(&agent, &deregister, &[&list]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "Deregistered service: db\nDeregistered service: cache-1\n"
        )
    );
    let services = agent_services(&agent);
    let left: Vec<&str> = services
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(left, ["api", "queue"]);

    // The agent's refusals come back in Consul's words, with exit code 1.
    let (code, out, err) = verb(&agent, &register, &["-name=bad", "-meta=consul-x=1"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.starts_with("Error registering service \"bad\": Unexpected response code: 400"),
        "{err}"
    );
    // An unknown ID is not an error: the agent answers 200, as Consul's does.
    let (code, out, _) = verb(&agent, &deregister, &["-id=nope"]);
    assert_eq!((code, out.as_str()), (0, "Deregistered service: nope\n"));
}

#[test]
fn services_verbs_refuse_bad_arguments() {
    // None of these reach an agent, so none is needed.
    let dir = tempfile::tempdir().unwrap();
    let hcl = write(&dir, "web.hcl", "service { name = \"web\" }");
    let broken = write(&dir, "broken.json", "{\"service\":");
    let missing = dir.path().join("missing.json").display().to_string();
    let cases: [(&[&str], &str); 7] = [
        (
            &["services", "register"],
            "Service registration requires at least one argument or flags.",
        ),
        (
            &["services", "register", "-name=web", &hcl],
            "Service registration requires arguments or -id, not both.",
        ),
        (&["services", "register", &hcl], "only JSON"),
        (&["services", "register", &broken], "Error: failed to parse"),
        (
            &["services", "register", &missing],
            "Error: config: Open failed",
        ),
        (
            &["services", "deregister"],
            "Service deregistration requires at least one argument or -id.",
        ),
        (
            &["services", "deregister", "-id=web", &hcl],
            "Service deregistration requires arguments or -id, not both.",
        ),
    ];
    for (args, expected) in cases {
        let (code, out, err) = cli(args);
        assert_eq!((code, out.as_str()), (1, ""), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // A flag no verb knows exits 1, as Consul's commands do; help still exits 0.
    for args in [&["kv", "get", "-bogus", "k"][..], &["agent", "-bogus"]] {
        let (code, out, err) = cli(args);
        assert_eq!((code, out.as_str()), (1, ""), "{args:?}: {err}");
        assert!(err.contains("bogus"), "{args:?}: {err}");
    }
    let (code, out, _) = cli(&["kv", "get", "-help"]);
    assert_eq!(code, 0);
    assert!(!out.is_empty());

    // A call that fails names the service, as Consul does.
    let down = format!("-http-addr=127.0.0.1:{}", crate::harness::free_port());
    let (code, _, err) = cli(&["services", "deregister", &down, "-id=web"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Error deregistering service \"web\": "),
        "{err}"
    );
    let (code, _, err) = cli(&["services", "register", &down, "-name=web"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Error registering service \"web\": "),
        "{err}"
    );
}

#[test]
fn maint_verb_enables_lists_and_disables() {
    let agent = Agent::server(&[]);
    let (code, _, err) = verb(&agent, &["services", "register"], &["-name=web"]);
    assert_eq!(code, 0, "{err}");
    let maint = |rest: &[&str]| verb(&agent, &["maint"], rest);

    assert_eq!(maint(&[]), (0, String::new(), String::new()));
    let (code, out, _) = maint(&["-enable", "-reason", "kernel upgrade"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "Node maintenance is now enabled\n")
    );
    let (code, out, _) = maint(&["-enable", "-service=web", "-reason=deploy"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "Service maintenance is now enabled for \"web\"\n")
    );
    let (code, out, _) = maint(&[]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Node:\n  Name:   e2e-node\n  Reason: kernel upgrade\n\n\
         Service:\n  ID:     web\n  Reason: deploy\n\n"
    );

    // CONSUL_HTTP_ADDR picks the agent as it does for every verb.
    let output = std::process::Command::new(crate::harness::legate())
        .args(["maint", "-disable"])
        .env("CONSUL_HTTP_ADDR", agent.addr())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Node maintenance is now disabled\n"
    );
    let (code, out, _) = maint(&["-disable", "-service", "web"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "Service maintenance is now disabled for \"web\"\n")
    );
    assert_eq!(maint(&[]), (0, String::new(), String::new()));

    let refusals: [(&[&str], &str); 4] = [
        (
            &["-enable", "-disable"],
            "Only one of -enable or -disable may be provided",
        ),
        (
            &["-disable", "-reason=x"],
            "Reason may only be provided with -enable",
        ),
        (
            &["-service=web"],
            "Service requires either -enable or -disable",
        ),
        (
            &["-enable", "-service=nope"],
            "Error enabling service maintenance: Unexpected response code: 404",
        ),
    ];
    for (rest, expected) in refusals {
        let (code, out, err) = maint(rest);
        assert_eq!((code, out.as_str()), (1, ""), "{rest:?}: {err}");
        assert!(err.starts_with(expected), "{rest:?}: {err}");
    }
}
