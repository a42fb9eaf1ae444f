//! Shared test support: the fake `Lookup` (`legate_dns::testing`), request builders, a text
//! rendering of replies, and golden-file comparison.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use legate_dns::DnsConfig;
use std::path::PathBuf;
use std::time::Duration;

pub use legate_dns::testing::{catalog, FakeCatalog};

/// The configuration presets answer cases can name with `cfg=`.
pub fn config(preset: &str) -> DnsConfig {
    let base = DnsConfig {
        node_name: "agent-1".into(),
        ..DnsConfig::default()
    }
    .with_alt_domain("alt.example");
    match preset {
        "default" => base,
        "only_passing" => DnsConfig {
            only_passing: true,
            ..base
        },
        "truncate" => DnsConfig {
            enable_truncate: true,
            ..base
        },
        "ttl" => DnsConfig {
            node_ttl: Duration::from_secs(60),
            service_ttl: [
                ("*", Duration::from_secs(5)),
                ("web", Duration::from_secs(30)),
                ("ma*", Duration::from_secs(10)),
            ]
            .into_iter()
            .collect(),
            soa: legate_dns::SoaConfig {
                min_ttl: 7,
                ..legate_dns::SoaConfig::default()
            },
            ..base
        },
        "a_limit" => DnsConfig {
            a_record_limit: 2,
            ..base
        },
        "udp1" => DnsConfig {
            udp_answer_limit: 1,
            ..base
        },
        "nometa" => DnsConfig {
            enable_additional_node_meta_txt: false,
            ..base
        },
        "wan" => DnsConfig {
            translate_wan_addrs: true,
            ..base
        },
        "legate" => base.with_domain("legate"),
        other => panic!("unknown config preset {other}"),
    }
}

/// Encodes a question.
pub fn query(id: u16, name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    query_with(id, name, qtype, edns, None)
}

/// Encodes a question, optionally with EDNS and a client-subnet option.
pub fn query_with(
    id: u16,
    name: &str,
    qtype: RecordType,
    edns: Option<u16>,
    subnet: Option<ClientSubnet>,
) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message
        .queries
        .push(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if edns.is_some() || subnet.is_some() {
        let mut opt = Edns::new();
        opt.set_max_payload(edns.unwrap_or(512));
        if let Some(subnet) = subnet {
            opt.options_mut().insert(EdnsOption::Subnet(subnet));
        }
        message.edns = Some(opt);
    }
    message.to_vec().unwrap()
}

/// A reply as text: header, EDNS, then each section one record per line.
pub fn render(bytes: &[u8]) -> String {
    let message = Message::from_vec(bytes).expect("reply decodes");
    let m = &message.metadata;
    let mut flags = vec!["qr"];
    for (set, flag) in [
        (m.authoritative, "aa"),
        (m.truncation, "tc"),
        (m.recursion_desired, "rd"),
        (m.recursion_available, "ra"),
    ] {
        if set {
            flags.push(flag);
        }
    }
    let rcode = match m.response_code {
        ResponseCode::NoError => "NOERROR".to_owned(),
        ResponseCode::FormErr => "FORMERR".to_owned(),
        ResponseCode::ServFail => "SERVFAIL".to_owned(),
        ResponseCode::NXDomain => "NXDOMAIN".to_owned(),
        ResponseCode::NotImp => "NOTIMP".to_owned(),
        ResponseCode::Refused => "REFUSED".to_owned(),
        other => format!("{other:?}"),
    };
    let mut out = format!(
        ";; {rcode} flags: {}; {} bytes\n",
        flags.join(" "),
        bytes.len()
    );
    if let Some(edns) = &message.edns {
        out.push_str(&format!(";; edns payload {}", edns.max_payload()));
        for (_, option) in edns.options().as_ref() {
            if let EdnsOption::Subnet(subnet) = option {
                out.push_str(&format!(
                    " ecs {}/{}/{}",
                    subnet.addr(),
                    subnet.source_prefix(),
                    subnet.scope_prefix()
                ));
            }
        }
        out.push('\n');
    }
    for (title, records) in [
        ("answer", &message.answers),
        ("authority", &message.authorities),
        ("additional", &message.additionals),
    ] {
        if records.is_empty() {
            continue;
        }
        out.push_str(&format!(";; {title}\n"));
        for record in records {
            out.push_str(&format!("{record}\n"));
        }
    }
    out
}

pub fn testdata(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/dns/testdata")
        .join(file)
}

/// Compares `actual` with a golden file, or rewrites it when `UPDATE_GOLDEN=1`.
pub fn check_golden(file: &str, actual: &str) {
    let path = testdata(file);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the golden file at line {} (rerun with UPDATE_GOLDEN=1 to accept):\n\
             expected: {:?}\nactual:   {:?}",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

/// Parses a record type name as written in case files.
pub fn qtype(text: &str) -> RecordType {
    text.parse()
        .unwrap_or_else(|_| panic!("unknown record type {text}"))
}
