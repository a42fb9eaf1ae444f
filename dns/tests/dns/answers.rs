//! Golden test of whole answers: each line of `testdata/answers.txt` is a question asked of
//! a `DnsHandler` over the fake catalog, with a fixed clock and RNG seed; the rendered
//! reply goes to `answers.golden`.

use crate::harness::{catalog, check_golden, config, query_with, render, testdata};
use hickory_proto::rr::rdata::opt::ClientSubnet;
use legate_dns::{DnsHandler, Transport};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;

/// The SOA serial in every golden answer.
pub const NOW: u32 = 1_700_000_000;

#[tokio::test]
async fn answers_match_golden() {
    let cases = std::fs::read_to_string(testdata("answers.txt")).unwrap();
    let mut handlers = BTreeMap::new();
    let mut out = String::new();
    for (number, line) in cases.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut words = line.split_whitespace();
        let name = words.next().unwrap();
        let qtype = crate::harness::qtype(words.next().unwrap());
        let (mut transport, mut edns, mut subnet, mut preset, mut seed) =
            (Transport::Udp, None, None, "default", 1u64);
        for word in words {
            match word.split_once('=') {
                None if word == "tcp" => transport = Transport::Tcp,
                None if word == "udp" => transport = Transport::Udp,
                Some(("edns", size)) => edns = Some(size.parse().unwrap()),
                Some(("ecs", net)) => {
                    let (addr, prefix) = net.split_once('/').unwrap();
                    subnet = Some(ClientSubnet::new(
                        addr.parse().unwrap(),
                        prefix.parse().unwrap(),
                        0,
                    ));
                }
                Some(("cfg", name)) => preset = name,
                Some(("seed", value)) => seed = value.parse().unwrap(),
                _ => panic!("line {}: unknown option {word}", number + 1),
            }
        }
        let handler = handlers
            .entry(preset)
            .or_insert_with(|| DnsHandler::new(catalog(), config(preset)));
        let raw = query_with(0x1234, name, qtype, edns, subnet);
        let mut rng = StdRng::seed_from_u64(seed);
        let reply = handler.respond_at(&raw, transport, NOW, &mut rng).await;
        out.push_str(&format!("=== {line}\n"));
        match reply {
            Some(bytes) => out.push_str(&render(&bytes)),
            None => out.push_str(";; no reply\n"),
        }
        out.push('\n');
    }
    check_golden("answers.golden", &out);
}

/// A catalog whose reads never finish.
struct StuckLookup;

impl legate_dns::Lookup for StuckLookup {
    fn prepared_query(
        &self,
        _name: String,
        _options: legate_dns::ReadOptions,
    ) -> impl std::future::Future<
        Output = Result<Option<legate_dns::QueryAnswer>, legate_dns::LookupError>,
    > + Send {
        std::future::pending()
    }

    fn service_instances(
        &self,
        _name: legate_catalog::ServiceName,
        _options: legate_dns::ReadOptions,
    ) -> impl std::future::Future<
        Output = Result<Vec<legate_catalog::query::Instance>, legate_dns::LookupError>,
    > + Send {
        std::future::pending()
    }

    fn node(
        &self,
        _name: String,
        _options: legate_dns::ReadOptions,
    ) -> impl std::future::Future<
        Output = Result<Option<legate_catalog::Node>, legate_dns::LookupError>,
    > + Send {
        std::future::pending()
    }

    fn nodes_by_address(
        &self,
        _ip: std::net::IpAddr,
        _options: legate_dns::ReadOptions,
    ) -> impl std::future::Future<Output = Result<Vec<legate_catalog::Node>, legate_dns::LookupError>>
           + Send {
        std::future::pending()
    }

    fn services_by_address(
        &self,
        _ip: std::net::IpAddr,
        _options: legate_dns::ReadOptions,
    ) -> impl std::future::Future<
        Output = Result<Vec<legate_catalog::Service>, legate_dns::LookupError>,
    > + Send {
        std::future::pending()
    }
}

#[tokio::test]
async fn stuck_reads_answer_servfail_after_the_deadline() {
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::RecordType;
    let handler = DnsHandler::new(StuckLookup, config("default"))
        .with_lookup_timeout(std::time::Duration::from_millis(100));
    let raw = crate::harness::query(9, "web.service.consul.", RecordType::A, None);
    let reply = handler.respond(&raw, Transport::Udp).await.unwrap();
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    // Reverse lookups treat a failed read as "not found".
    let raw = crate::harness::query(10, "1.0.0.10.in-addr.arpa.", RecordType::PTR, None);
    let reply = handler.respond(&raw, Transport::Udp).await.unwrap();
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}
