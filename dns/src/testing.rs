//! `FakeCatalog`: a `Lookup` over a small in-memory catalog of two datacenters, for tests of
//! the DNS frontend and for the fuzz targets (`fuzz/`). Fakes are for tests of one frontend
//! only; a real agent answers from its store (`legate-agent`'s `ServerLookup`).

use crate::{Lookup, LookupError, QueryAnswer, ReadOptions};
use legate_catalog::query::Instance;
use legate_catalog::{
    Check, CheckId, Datacenter, Health, Node, NodeName, Service, ServiceId, ServiceName, Weights,
};
use std::collections::BTreeMap;
use std::future::{ready, Future};
use std::net::IpAddr;

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
    ) -> impl Future<Output = Result<Option<QueryAnswer>, LookupError>> + Send {
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
            return ready(Ok(Some(QueryAnswer {
                service: "asker".into(),
                instances: vec![instance],
                ttl: None,
            })));
        }
        let answer = if name == "web-q" {
            self.instances("web", &options).map(|instances| {
                Some(QueryAnswer {
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
