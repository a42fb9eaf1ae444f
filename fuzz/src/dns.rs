//! DNS from the network: a question as the agent's DNS server reads it, answered from a small
//! catalog of two datacenters, over UDP (size limits, truncation) or TCP.

use hickory_proto::op::Message;
use legate_dns::testing::{catalog, FakeCatalog};
use legate_dns::{DnsConfig, DnsHandler, Transport};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::cell::RefCell;

thread_local! {
    static HANDLER: DnsHandler<FakeCatalog> = DnsHandler::new(
        catalog(),
        DnsConfig {
            node_name: "agent-1".into(),
            ..DnsConfig::default()
        }
        .with_alt_domain("alt.example"),
    );
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime"),
    );
}

/// The first byte picks the transport; the rest is the request. Whatever the handler sends
/// back must be a DNS message that decodes.
pub fn messages(data: &[u8]) {
    let Some((&transport, raw)) = data.split_first() else {
        return;
    };
    let transport = if transport & 1 == 0 {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let reply = HANDLER.with(|handler| {
        RUNTIME.with(|runtime| {
            let mut rng = StdRng::seed_from_u64(7);
            runtime
                .borrow()
                .block_on(handler.respond_at(raw, transport, 1_700_000_000, &mut rng))
        })
    });
    if let Some(reply) = reply {
        if let Err(error) = Message::from_vec(&reply) {
            panic!("the reply to {raw:?} does not decode: {error}");
        }
    }
}
