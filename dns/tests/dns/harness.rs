//! Shared test support: a fake `Lookup` over a small catalog, request builders, a text
//! rendering of replies, and golden-file comparison.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use legate_catalog::query::Instance;
use legate_catalog::{
    Check, CheckId, Datacenter, Health, Node, NodeName, Service, ServiceId, ServiceName, Weights,
};
use legate_dns::{DnsConfig, Lookup, LookupError, ReadOptions};
use std::collections::BTreeMap;
use std::future::{ready, Future};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One datacenter's catalog.
#[derive(Clone, Debug, Default)]
pub struct Dc {
    pub nodes: Vec<Node>,
    pub services: Vec<Service>,
    pub checks: Vec<Check>,
}

impl Dc {
    pub fn node(&mut self, name: &str, address: &str) -> &mut Node {
        self.nodes.push(Node {
            name: NodeName::new(name),
            address: address.to_owned(),
            ..Node::default()
        });
        self.nodes.last_mut().unwrap()
    }

    pub fn service(&mut self, node: &str, id: &str, name: &str, port: u16) -> &mut Service {
        self.services.push(Service {
            node: NodeName::new(node),
            id: ServiceId::new(id),
            name: ServiceName::new(name),
            port,
            weights: Weights::default(),
            ..Service::default()
        });
        self.services.last_mut().unwrap()
    }

    pub fn check(&mut self, node: &str, id: &str, service_id: &str, status: Health) {
        self.checks.push(Check {
            node: NodeName::new(node),
            id: CheckId::new(id),
            service_id: ServiceId::new(service_id),
            status,
            ..Check::default()
        });
    }

    fn instance(&self, service: &Service) -> Option<Instance> {
        let node = self.nodes.iter().find(|n| n.name == service.node)?.clone();
        let mut checks: Vec<Check> = self
            .checks
            .iter()
            .filter(|c| c.node == service.node && c.service_id.as_str().is_empty())
            .cloned()
            .collect();
        checks.extend(
            self.checks
                .iter()
                .filter(|c| c.node == service.node && c.service_id == service.id)
                .cloned(),
        );
        Some(Instance {
            node,
            service: service.clone(),
            checks,
        })
    }
}

/// A fake catalog of several datacenters; `dc1` is the agent's own. A service named
/// `broken` fails as an unreachable catalog would.
#[derive(Clone, Debug, Default)]
pub struct FakeCatalog {
    pub dcs: BTreeMap<String, Dc>,
}

impl FakeCatalog {
    fn dc(&self, options: &ReadOptions) -> Result<&Dc, LookupError> {
        let name = options
            .datacenter
            .clone()
            .unwrap_or_else(|| Datacenter::new("dc1"));
        self.dcs
            .get(name.as_str())
            .ok_or(LookupError::UnknownDatacenter(name))
    }

    fn instances(&self, name: &str, options: &ReadOptions) -> Result<Vec<Instance>, LookupError> {
        if name == "broken" {
            return Err(LookupError::Unavailable("no cluster leader".into()));
        }
        let dc = self.dc(options)?;
        Ok(dc
            .services
            .iter()
            .filter(|s| s.name.as_str().eq_ignore_ascii_case(name))
            .filter_map(|s| dc.instance(s))
            .collect())
    }
}

impl Lookup for FakeCatalog {
    /// Two prepared queries: `web-q`, the passing instances of `web` under a 30 s TTL; and
    /// `asker-q`, one instance on a node whose address is the asker's as the lookup was
    /// told it (`ReadOptions::client`; 0.0.0.0 when it was not).
    fn prepared_query(
        &self,
        name: String,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Option<legate_dns::QueryAnswer>, LookupError>> + Send {
        if name == "asker-q" {
            let address = options
                .client
                .map_or_else(|| "0.0.0.0".to_owned(), |ip| ip.to_string());
            let instance = Instance {
                node: Node {
                    name: NodeName::new("asker"),
                    address,
                    ..Node::default()
                },
                service: Service {
                    node: NodeName::new("asker"),
                    id: ServiceId::new("asker"),
                    name: ServiceName::new("asker"),
                    port: 1,
                    ..Service::default()
                },
                checks: Vec::new(),
            };
            return ready(Ok(Some(legate_dns::QueryAnswer {
                service: "asker".into(),
                instances: vec![instance],
                ttl: None,
            })));
        }
        let answer = if name == "web-q" {
            self.instances("web", &options).map(|instances| {
                Some(legate_dns::QueryAnswer {
                    service: "web".into(),
                    instances: instances
                        .into_iter()
                        .filter(|instance| instance.all_passing())
                        .collect(),
                    ttl: Some(std::time::Duration::from_secs(30)),
                })
            })
        } else {
            Ok(None)
        };
        ready(answer)
    }

    fn service_instances(
        &self,
        name: ServiceName,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Vec<Instance>, LookupError>> + Send {
        ready(self.instances(name.as_str(), &options))
    }

    fn node(
        &self,
        name: String,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Option<Node>, LookupError>> + Send {
        ready(self.dc(&options).map(|dc| {
            dc.nodes
                .iter()
                .find(|n| n.name.as_str().eq_ignore_ascii_case(&name))
                .cloned()
        }))
    }

    fn nodes_by_address(
        &self,
        ip: IpAddr,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Vec<Node>, LookupError>> + Send {
        ready(self.dc(&options).map(|dc| {
            dc.nodes
                .iter()
                .filter(|n| n.address.parse::<IpAddr>().ok() == Some(ip))
                .cloned()
                .collect()
        }))
    }

    fn services_by_address(
        &self,
        ip: IpAddr,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Vec<Service>, LookupError>> + Send {
        ready(self.dc(&options).map(|dc| {
            dc.services
                .iter()
                .filter(|s| s.address.parse::<IpAddr>().ok() == Some(ip))
                .cloned()
                .collect()
        }))
    }
}

/// The catalog every answer test uses.
pub fn catalog() -> FakeCatalog {
    let mut dc1 = Dc::default();
    dc1.node("node1", "10.0.0.1").meta = [
        ("rack".to_owned(), "r1".to_owned()),
        ("rfc1035-spf".to_owned(), "v=spf1 -all".to_owned()),
    ]
    .into();
    dc1.node("node2", "10.0.0.2");
    dc1.node("node3", "10.0.0.3");
    dc1.node("node4", "2001:db8::4");
    dc1.node("ext", "ext.example.com");
    dc1.node("db.main", "10.0.0.9");
    for node in ["node1", "node2", "node3", "node4", "ext", "db.main"] {
        let status = if node == "node3" {
            Health::Critical
        } else {
            Health::Passing
        };
        dc1.check(node, "serfHealth", "", status);
    }
    dc1.service("node1", "web", "web", 8080).tags = vec!["v1".into(), "Primary".into()];
    dc1.service("node2", "web", "web", 8080).tags = vec!["v2".into()];
    dc1.service("node3", "web", "web", 8080).tags = vec!["v1".into()];
    dc1.service("node4", "web", "web", 8080);
    // Two instances on one node with the same port: one SRV record.
    dc1.service("node2", "web-b", "web", 8080).tags = vec!["v2".into()];

    let api = dc1.service("node1", "api-1", "api", 9000);
    api.address = "192.168.1.10".into();
    api.weights = Weights {
        passing: 10,
        warning: 1,
    };
    let api = dc1.service("node2", "api-2", "api", 9000);
    api.address = "192.168.1.20".into();
    api.weights = Weights {
        passing: 10,
        warning: 1,
    };
    dc1.check("node2", "api-check", "api-2", Health::Warning);

    dc1.service("node2", "db", "db", 5432).address = "db.internal.example".into();
    dc1.service("node1", "alias", "alias", 80).address = "web.service.consul".into();
    dc1.service("ext", "legacy", "legacy", 25);

    dc1.service("node1", "warnsvc", "warnsvc", 1);
    dc1.check("node1", "warn", "warnsvc", Health::Warning);
    dc1.service("node2", "maint", "maint", 1);
    dc1.check(
        "node2",
        "_service_maintenance:maint",
        "maint",
        Health::Critical,
    );
    dc1.service("node1", "sick", "sick", 1);
    dc1.check("node1", "sick-check", "sick", Health::Critical);

    dc1.service("node1", "consul", "consul", 8300);
    dc1.service("node2", "consul", "consul", 8300);
    dc1.service("db.main", "consul", "consul", 8300);

    for i in 0..20 {
        let node = format!("many-{i:02}");
        dc1.node(&node, &format!("10.1.0.{}", i + 1)).meta =
            [("zone".to_owned(), format!("z{}", i % 3))].into();
        dc1.check(&node, "serfHealth", "", Health::Passing);
        dc1.service(&node, "many", "many", 80);
    }

    let mut dc2 = Dc::default();
    dc2.node("remote1", "10.2.0.1").tagged_addresses =
        [("wan".to_owned(), "198.51.100.1".to_owned())].into();
    dc2.check("remote1", "serfHealth", "", Health::Passing);
    dc2.service("remote1", "web", "web", 80);

    FakeCatalog {
        dcs: [("dc1".to_owned(), dc1), ("dc2".to_owned(), dc2)].into(),
    }
}

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
