//! DNS against a real agent: services registered over HTTP, then resolved with `dig` (Debian
//! `bind9-dnsutils`) and with hickory's message types over UDP and TCP.

use crate::harness::Agent;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use reqwest::blocking::Client;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

/// Three instances of `web`: passing, critical (hidden from DNS), warning (kept).
fn web_cluster(agent: &Agent) {
    let http = Client::new();
    for (node, address, tag, status) in [
        ("n1", "10.0.0.1", "v1", "passing"),
        ("n2", "10.0.0.2", "v1", "critical"),
        ("n3", "10.0.0.3", "v2", "warning"),
    ] {
        let body = json!({
            "Node": node, "Address": address, "NodeMeta": {"rack": "r1"},
            "Service": {"ID": format!("web-{node}"), "Service": "web", "Port": 8080, "Tags": [tag]},
            "Check": {"CheckID": format!("web-{node}"), "Name": "http", "Status": status,
                      "ServiceID": format!("web-{node}")},
        });
        let response = http
            .put(agent.url("/v1/catalog/register"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(response.text().unwrap(), "true");
    }
}

fn dig(agent: &Agent, args: &[&str]) -> String {
    let output = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &agent.dns_port.to_string(),
            "+time=5",
            "+tries=2",
        ])
        .args(args)
        .output()
        .expect("dig is installed (Debian bind9-dnsutils; .ci/run installs it)");
    assert!(output.status.success(), "dig failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn short(agent: &Agent, args: &[&str]) -> Vec<String> {
    let mut args = args.to_vec();
    args.push("+short");
    let mut lines: Vec<String> = dig(agent, &args).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn dig_resolves_services_nodes_and_tags_as_consul_does() {
    let agent = Agent::server(&[]);
    web_cluster(&agent);

    // A: passing and warning instances, never the critical one.
    assert_eq!(
        short(&agent, &["web.service.consul", "A"]),
        ["10.0.0.1", "10.0.0.3"]
    );
    // Tag filter, and RFC 2782 with a tag.
    assert_eq!(short(&agent, &["v1.web.service.consul", "A"]), ["10.0.0.1"]);
    assert_eq!(
        short(&agent, &["_web._v2.service.consul", "SRV"]),
        ["1 1 8080 n3.node.dc1.consul."]
    );
    // SRV: priority 1, weight 1, the port, node targets, with A records in additional.
    let srv = dig(
        &agent,
        &[
            "web.service.dc1.consul",
            "SRV",
            "+noall",
            "+answer",
            "+additional",
        ],
    );
    assert!(srv.contains("1 1 8080 n1.node.dc1.consul."), "{srv}");
    assert!(srv.contains("1 1 8080 n3.node.dc1.consul."), "{srv}");
    assert!(!srv.contains("n2.node"), "critical instance in {srv}");
    assert!(
        srv.contains("n1.node.dc1.consul.\t0\tIN\tA\t10.0.0.1"),
        "{srv}"
    );
    // Nodes, node meta as TXT, and case-insensitivity.
    assert_eq!(short(&agent, &["N1.NODE.consul", "A"]), ["10.0.0.1"]);
    assert_eq!(short(&agent, &["n1.node.consul", "TXT"]), ["\"rack=r1\""]);
    // The server itself, as the consul service.
    assert_eq!(
        short(&agent, &["consul.service.consul", "A"]),
        ["127.0.0.1"]
    );
    // .addr names decode back to the address.
    assert_eq!(
        short(&agent, &["0a000001.addr.dc1.consul", "A"]),
        ["10.0.0.1"]
    );
    // Reverse lookup of a node address.
    assert_eq!(short(&agent, &["-x", "10.0.0.3"]), ["n3.node.dc1.consul."]);
    // Unknown names: NXDOMAIN with the SOA; a known name without that type: NODATA + SOA.
    let missing = dig(&agent, &["nosuch.service.consul", "A"]);
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");
    assert!(
        missing.contains("SOA\tns.consul. hostmaster.consul."),
        "{missing}"
    );
    let nodata = dig(&agent, &["web.service.consul", "AAAA"]);
    assert!(
        nodata.contains("status: NOERROR") && nodata.contains("ANSWER: 0"),
        "{nodata}"
    );
    assert!(nodata.contains("SOA"), "{nodata}");
    // Over TCP as well.
    assert_eq!(
        short(&agent, &["+tcp", "web.service.consul", "A"]),
        ["10.0.0.1", "10.0.0.3"]
    );
    // Authoritative, no recursion offered without recursors.
    let flags = dig(&agent, &["web.service.consul", "A"]);
    assert!(flags.contains("flags: qr aa rd;"), "{flags}");
}

fn query(name: &str, kind: RecordType) -> Vec<u8> {
    let mut message = Message::new(4242, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message
        .queries
        .push(Query::query(Name::from_str(name).unwrap(), kind));
    message.to_vec().unwrap()
}

#[test]
fn a_dns_client_library_gets_srv_with_additional_records_over_udp_and_tcp() {
    let agent = Agent::server(&[]);
    web_cluster(&agent);
    let question = query("web.service.consul.", RecordType::SRV);

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    udp.send_to(&question, ("127.0.0.1", agent.dns_port))
        .unwrap();
    let mut buffer = [0u8; 4096];
    let length = udp.recv(&mut buffer).unwrap();
    let answer = Message::from_vec(&buffer[..length]).unwrap();
    assert_eq!(answer.metadata.id, 4242);
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.metadata.authoritative);
    let targets: Vec<String> = answer
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some(format!("{} {}", srv.port, srv.target)),
            _ => None,
        })
        .collect();
    assert_eq!(targets.len(), 2, "{answer:?}");
    assert!(targets
        .iter()
        .all(|t| t.starts_with("8080 n1.") || t.starts_with("8080 n3.")));
    let glue = answer
        .additionals
        .iter()
        .filter(|r| r.record_type() == RecordType::A);
    assert_eq!(glue.count(), 2);

    let mut tcp = TcpStream::connect(("127.0.0.1", agent.dns_port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(&(question.len() as u16).to_be_bytes())
        .unwrap();
    tcp.write_all(&question).unwrap();
    let mut length = [0u8; 2];
    tcp.read_exact(&mut length).unwrap();
    let mut reply = vec![0u8; u16::from_be_bytes(length) as usize];
    tcp.read_exact(&mut reply).unwrap();
    let over_tcp = Message::from_vec(&reply).unwrap();
    assert_eq!(over_tcp.answers.len(), 2);

    // Garbage is answered or dropped, never fatal: the server still answers afterwards.
    for garbage in [&b"\x00"[..], &[0xff; 12][..], &[0x12; 600][..]] {
        udp.send_to(garbage, ("127.0.0.1", agent.dns_port)).unwrap();
    }
    udp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while udp.recv(&mut buffer).is_ok() {}
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    udp.send_to(
        &query("n1.node.consul.", RecordType::A),
        ("127.0.0.1", agent.dns_port),
    )
    .unwrap();
    let length = udp.recv(&mut buffer).unwrap();
    let still = Message::from_vec(&buffer[..length]).unwrap();
    assert_eq!(still.answers.len(), 1);
}

#[test]
fn critical_instances_leave_dns_when_their_check_fails() {
    let agent = Agent::server(&[]);
    web_cluster(&agent);
    assert_eq!(short(&agent, &["v2.web.service.consul", "A"]), ["10.0.0.3"]);
    let body = json!({"Node": "n3", "Address": "10.0.0.3",
        "Check": {"CheckID": "web-n3", "Name": "http", "Status": "critical", "ServiceID": "web-n3"}});
    Client::new()
        .put(agent.url("/v1/catalog/register"))
        .json(&body)
        .send()
        .unwrap();
    let gone = dig(&agent, &["v2.web.service.consul", "A"]);
    assert!(gone.contains("status: NXDOMAIN"), "{gone}");
}

/// A one-record DNS server for names outside the domain: answers every A question with
/// 192.0.2.53, so the test can tell a forwarded answer from anything else.
fn start_upstream() -> (u16, std::thread::JoinHandle<()>) {
    use hickory_proto::rr::{rdata::A, Record};
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut buffer = [0u8; 1500];
        // Serves until the test stops asking (a read timeout ends it).
        while let Ok((length, from)) = socket.recv_from(&mut buffer) {
            let Ok(question) = Message::from_vec(&buffer[..length]) else {
                continue;
            };
            let mut reply =
                Message::new(question.metadata.id, MessageType::Response, OpCode::Query);
            reply.metadata.recursion_available = true;
            reply.queries = question.queries.clone();
            if let Some(asked) = question.queries.first() {
                let record =
                    Record::from_rdata(asked.name().clone(), 60, RData::A(A::new(192, 0, 2, 53)));
                reply.answers.push(record);
            }
            let _ = socket.send_to(&reply.to_vec().unwrap(), from);
        }
    });
    (port, handle)
}

#[test]
fn names_outside_the_domain_go_to_the_recursor() {
    let (upstream, _server) = start_upstream();
    let agent = Agent::server(&[&format!("-recursor=127.0.0.1:{upstream}")]);
    assert_eq!(short(&agent, &["www.example.org", "A"]), ["192.0.2.53"]);
    // With a recursor configured, recursion is offered.
    let flags = dig(&agent, &["web.service.consul", "A"]);
    assert!(flags.contains(" ra"), "{flags}");
}

#[test]
fn udp_answers_are_capped_and_truncation_is_flagged_only_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let truncating = dir.path().join("dns.json");
    std::fs::write(&truncating, r#"{"dns_config": {"enable_truncate": true}}"#).unwrap();
    for (extra, flagged) in [(None, false), (Some(&truncating), true)] {
        let args: Vec<String> = extra
            .map(|path| format!("-config-file={}", path.display()))
            .into_iter()
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let agent = Agent::server(&args);
        let http = Client::new();
        for i in 0..10 {
            let body = json!({"Node": format!("m{i}"), "Address": format!("10.1.0.{i}"),
                              "Service": {"Service": "many", "Port": 1}});
            http.put(agent.url("/v1/catalog/register"))
                .json(&body)
                .send()
                .unwrap();
        }
        // Without EDNS, UDP answers stop at udp_answer_limit (3).
        let plain = short(&agent, &["+noedns", "+ignore", "many.service.consul", "A"]);
        assert_eq!(plain.len(), 3, "{plain:?}");
        let full = dig(&agent, &["+noedns", "+ignore", "many.service.consul", "A"]);
        assert_eq!(full.contains(" tc"), flagged, "{full}");
        // TCP carries them all.
        assert_eq!(
            short(&agent, &["+tcp", "many.service.consul", "A"]).len(),
            10
        );
    }
}
