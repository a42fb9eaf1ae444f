//! `translate_wan_addrs` (Consul's `agent/translate_addr.go`): with it on, answers about
//! nodes of another datacenter carry their `wan` tagged addresses in place of their LAN
//! ones, since a caller in this datacenter reaches them over the WAN; every answer of the
//! endpoints that translate says whether translation is on.

use crate::backend::Backend;
use crate::options::RequestOptions;
use crate::router::Api;
use axum::http::HeaderValue;
use axum::response::Response;
use legate_catalog::query::Instance;
use legate_catalog::Node;

/// The header that tells a client that addresses may be translated.
pub const HEADER: &str = "X-Consul-Translate-Addresses";

/// Whether answers to this request are translated: the option is on and the request names
/// another datacenter.
pub fn applies<B: Backend>(api: &Api<B>, options: &RequestOptions) -> bool {
    api.config.translate_wan_addrs
        && options
            .datacenter
            .as_ref()
            .is_some_and(|dc| *dc != api.info().datacenter)
}

/// A node's `wan` address in place of its own, when it has one.
pub fn node(node: &mut Node) {
    if let Some(wan) = node
        .tagged_addresses
        .get("wan")
        .filter(|wan| !wan.is_empty())
    {
        node.address = wan.clone();
    }
}

/// The node's and the service's `wan` addresses (and the service's WAN port).
pub fn instance(instance: &mut Instance) {
    node(&mut instance.node);
    let service = &mut instance.service;
    if let Some(wan) = service
        .tagged_addresses
        .get("wan")
        .filter(|wan| !wan.address.is_empty())
        .cloned()
    {
        service.address = wan.address;
        if wan.port != 0 {
            service.port = wan.port;
        }
    }
}

/// Marks `response` when translation is on for this agent.
pub fn mark<B: Backend>(api: &Api<B>, mut response: Response) -> Response {
    if api.config.translate_wan_addrs {
        response
            .headers_mut()
            .insert(HEADER, HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_catalog::{Service, ServiceAddress};
    use std::collections::BTreeMap;

    #[test]
    fn wan_addresses_replace_lan_ones_where_present() {
        let mut found = Instance {
            node: Node {
                address: "10.0.0.1".into(),
                tagged_addresses: BTreeMap::from([("wan".to_owned(), "198.51.100.1".to_owned())]),
                ..Node::default()
            },
            service: Service {
                address: "10.0.0.2".into(),
                port: 80,
                tagged_addresses: BTreeMap::from([(
                    "wan".to_owned(),
                    ServiceAddress {
                        address: "198.51.100.2".into(),
                        port: 8080,
                    },
                )]),
                ..Service::default()
            },
            checks: Vec::new(),
        };
        instance(&mut found);
        assert_eq!(found.node.address, "198.51.100.1");
        assert_eq!(
            (found.service.address.as_str(), found.service.port),
            ("198.51.100.2", 8080)
        );
        let mut bare = Node {
            address: "10.0.0.9".into(),
            ..Node::default()
        };
        node(&mut bare);
        assert_eq!(bare.address, "10.0.0.9");
    }
}
