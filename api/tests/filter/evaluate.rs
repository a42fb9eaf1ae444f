//! Expressions evaluated against records shaped like Consul's answers, each under the shape
//! of the endpoint that filters it (`golden/evaluate.txt`): `true`, `false`, or the error
//! binding the expression to that shape gives.

use crate::golden::{check, indent};
use legate_api::filter::{records, Filter, Shape};
use serde_json::Value;
use std::fmt::Write;
use std::path::PathBuf;

struct Suite {
    /// A file under `tests/filter/records/`.
    record: &'static str,
    shape_name: &'static str,
    shape: &'static Shape,
    expressions: &'static [&'static str],
}

fn suites() -> Vec<Suite> {
    vec![
        Suite {
            record: "node.json",
            shape_name: "NODE",
            shape: &records::NODE,
            expressions: &[
                // Equality: exact and case-sensitive, in values and in field names.
                "Node == \"web-1\"",
                "Node == `web-1`",
                "Node == \"WEB-1\"",
                "Node != \"web-1\"",
                "node == \"web-1\"",
                // A bare word is a value only if it is an identifier: `web-1` is not.
                "Node == web-1",
                // `in`/`contains` on text is a substring test.
                "web in Node",
                "\"-1\" in Node",
                "Node contains web",
                "Node not contains db",
                "db not in Node",
                // Regular expressions: unanchored, RE2 syntax.
                "Node matches \"^web-[0-9]$\"",
                "Node matches `^WEB`",
                "Node matches `(?i)^WEB`",
                "Node matches eb",
                "Node not matches \"^db\"",
                "Address matches `^10\\.0\\.`",
                "Node matches `(`",
                "Node matches `a{2,1}`",
                // Maps: keys with `in`, values through `.key` or `["key"]`.
                "Meta.env == prod",
                "Meta[\"env\"] == prod",
                "Meta.env != prod",
                "Meta.blank == \"\"",
                "env in Meta",
                "prod in Meta",
                "Meta contains rack",
                "Meta not contains zone",
                "Meta is not empty",
                "Meta is empty",
                "TaggedAddresses.wan == \"198.51.100.11\"",
                // An absent key: go-bexpr v0.1.2's answers, both regex operators true.
                "Meta.zone == x",
                "Meta.zone != x",
                "Meta.zone contains x",
                "Meta.zone not contains x",
                "Meta.zone matches x",
                "Meta.zone not matches x",
                // Zero values for fields our JSON does not carry.
                "PeerName == \"\"",
                // Boolean combinations.
                "(Node == \"web-1\" or Node == \"web-2\") and Meta.env == prod",
                "not Node == \"web-1\"",
                "Node == \"web-1\" and not Meta.env == prod",
                "Node == db or Meta.rack == r1",
                // Refused when bound.
                "CreateIndex == 5",
                "ModifyIndex != 0",
                "Meta == prod",
                "Meta.env.x == y",
                "Meta.env is empty",
                "Node is empty",
                "TaggedAddresses matches x",
                "Nodes == x or Node == \"web-1\"",
                "Node == \"web-1\" or Nodes == x",
            ],
        },
        Suite {
            record: "catalog-service.json",
            shape_name: "SERVICE_NODE",
            shape: &records::SERVICE_NODE,
            expressions: &[
                "ServiceName == web and ServiceTags contains v1",
                "v2 in ServiceTags",
                "v2 not in ServiceTags",
                "ServiceTags is empty",
                "ServiceTags is not empty",
                // Numbers convert as Go's strconv.ParseInt(value, 0, 64).
                "ServicePort == 8080",
                "ServicePort == \"8080\"",
                "ServicePort == \"0x1F90\"",
                "ServicePort == \"8_080\"",
                "ServicePort != 80",
                "ServicePort == 80.5",
                "ServicePort == abc",
                "ServicePort == \"99999999999999999999\"",
                "ServicePort contains 80",
                "ServicePort matches 80",
                "ServiceWeights.Passing == 10",
                "ServiceWeights.Warning == -1",
                // Booleans convert as strconv.ParseBool.
                "ServiceEnableTagOverride == false",
                "ServiceEnableTagOverride == F",
                "ServiceEnableTagOverride != 1",
                "ServiceEnableTagOverride == yes",
                "ServiceConnect.Native == false",
                "ServiceConnect.Native == true",
                // Mesh fields our JSON leaves out read as zero values.
                "ServiceProxy.DestinationServiceName == \"\"",
                "ServiceProxy.Upstreams is empty",
                "ServiceProxy.Upstreams.DestinationName == db",
                "ServiceProxy.Config is empty",
                // Maps of structs.
                "ServiceTaggedAddresses.lan.Port == 8080",
                "ServiceTaggedAddresses.lan.Address == \"10.0.0.11\"",
                "ServiceTaggedAddresses.wan.Port == 8080",
                "ServiceTaggedAddresses.wan.Port != 8080",
                "lan in ServiceTaggedAddresses",
                "ServiceTaggedAddresses.lan == x",
                "NodeMeta.env == prod",
                "ServiceMeta.version matches \"^1\\\\.\"",
                "ServiceAddress == \"\"",
                "Service == web",
                "ServiceName == \"\"",
            ],
        },
        Suite {
            record: "service-entry.json",
            shape_name: "SERVICE_ENTRY",
            shape: &records::SERVICE_ENTRY,
            expressions: &[
                // Through a list: true when any element matches.
                "Checks.Status == passing",
                "Checks.Status == warning",
                "Checks.Status == critical",
                "Checks.Status != passing",
                "not Checks.Status != passing",
                "Checks.Status != critical",
                "Checks.Status == warning and Checks.CheckID == serfHealth",
                "Checks.ServiceTags contains primary",
                "Checks.Output contains 429",
                "Checks.Type == http",
                "Checks is not empty",
                "Checks is empty",
                "Checks == x",
                "Checks contains x",
                "Checks.Nope == x",
                "Checks.Definition.HTTP == x",
                "Checks.CreateIndex == 5",
                // The service and the node.
                "Service.Tags contains primary",
                "Service.Service == web",
                "Service.Meta.version == \"1.2.3\"",
                "Service.Weights.Passing == 10",
                "Service.Port == 8080",
                "Service.Connect.Native == true",
                "Service.Proxy.MeshGateway.Mode == \"\"",
                "Service.Datacenter == dc1",
                "Node.Node == \"web-1\"",
                "Node.Meta.rack == r1",
                "Node.Meta[\"rack\"] == r1 and Service.Tags contains v1 and Checks.Status != critical",
                "Node == x",
                "Service == web",
                // A bare word before `in` is a value, even one that looks like a selector.
                "Service.ID in Service.Tags",
                "primary in Service.Tags",
            ],
        },
        Suite {
            record: "service-entry-unchecked.json",
            shape_name: "SERVICE_ENTRY",
            shape: &records::SERVICE_ENTRY,
            expressions: &[
                "Checks.Status == passing",
                "Checks.Status != passing",
                "not Checks.Status != passing",
                "Checks is empty",
                "Service.Tags is empty",
                "Node.Meta is empty",
                "Node.Meta.rack != r1",
            ],
        },
        Suite {
            record: "health-check.json",
            shape_name: "HEALTH_CHECK",
            shape: &records::HEALTH_CHECK,
            expressions: &[
                "Status == critical",
                "Status != passing",
                "CheckID == \"service:web-2a\"",
                "ServiceTags contains v1",
                "Type == http",
                "Interval == \"10s\"",
                "Interval == 10s",
                "ExposedPort == 0",
                "Output contains refused",
                "Output matches `connection (refused|reset)`",
                "Notes == \"\"",
                "Name matches `(?i)^http`",
                "ServiceName == web and Status == critical",
                "Definition.HTTP == x",
                "CreateIndex == 14",
                "Status in ServiceTags",
            ],
        },
        Suite {
            record: "proxy-service.json",
            shape_name: "NODE_SERVICE",
            shape: &records::NODE_SERVICE,
            expressions: &[
                "Kind == \"connect-proxy\"",
                "Proxy.DestinationServiceName == web",
                "Proxy.LocalServicePort == 8080",
                "Proxy.Mode == transparent",
                "Proxy.TransparentProxy.OutboundListenerPort == 15001",
                "Proxy.Upstreams is not empty",
                "Proxy.Upstreams.DestinationName == db",
                "Proxy.Upstreams.DestinationName == cache and Proxy.Upstreams.LocalBindPort == 9191",
                "Proxy.Upstreams.MeshGateway.Mode == local",
                "Proxy.Upstreams.MeshGateway.Mode == remote",
                "Proxy.Upstreams.DestinationType == prepared_query",
                "Proxy.Upstreams.Config is empty",
                "Tags is empty",
                "TaggedAddresses.lan.Port == 21000",
                "Datacenter == dc1",
            ],
        },
        Suite {
            record: "proxy-service.json",
            shape_name: "AGENT_SERVICE",
            shape: &records::AGENT_SERVICE,
            expressions: &["Datacenter == dc1", "Service matches `-proxy$`", "Proxy.Mode == direct"],
        },
    ]
}

fn record(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/filter/records")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing {path:?}"));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path:?}: {error}"))
}

#[test]
fn expressions_evaluate_as_the_golden_file_says() {
    let mut rendered = String::new();
    for suite in suites() {
        writeln!(rendered, "### {} as {}", suite.record, suite.shape_name).unwrap();
        let record = record(suite.record);
        for expression in suite.expressions {
            let outcome = Filter::parse(expression)
                .and_then(|filter| filter.bind(suite.shape))
                .map(|matcher| matcher.matches(&record).to_string())
                .unwrap_or_else(|error| format!("error: {}", indent(&error.to_string())));
            writeln!(rendered, "{expression:?}\n  => {outcome}").unwrap();
        }
        rendered.push('\n');
    }
    check("evaluate.txt", &rendered);
}

#[test]
fn retain_keeps_matching_records_in_order_and_retain_values_filters_maps() {
    let entry = record("service-entry.json");
    let unchecked = record("service-entry-unchecked.json");
    let filter = Filter::parse("Checks is not empty").unwrap();
    let matcher = filter.bind(&records::SERVICE_ENTRY).unwrap();
    let mut list = vec![
        unchecked.clone(),
        entry.clone(),
        unchecked.clone(),
        entry.clone(),
    ];
    matcher.retain(&mut list);
    assert_eq!(list, [entry.clone(), entry.clone()]);

    let services = record("proxy-service.json");
    let mut by_id = std::collections::BTreeMap::from([
        ("proxy".to_owned(), services.clone()),
        ("plain".to_owned(), entry["Service"].clone()),
    ]);
    let kind = Filter::parse("Kind == \"connect-proxy\"").unwrap();
    kind.bind(&records::AGENT_SERVICE)
        .unwrap()
        .retain_values(&mut by_id);
    assert_eq!(by_id.keys().collect::<Vec<_>>(), ["proxy"]);
}

#[test]
fn the_consul_text_prefixes_every_error() {
    let error = Filter::parse("foo").unwrap_err();
    assert_eq!(
        error.consul_text(),
        "Failed to create boolean expression evaluator: 1:4 (3): no match found, expected: \
         \"!=\", \".\", \"==\", \"[\", [ \\t\\r\\n] or [a-zA-Z0-9_]"
    );
}
