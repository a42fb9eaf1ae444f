//! Recursion: names outside the domain and external host names go to `recursors`, here a
//! tiny DNS server on loopback started by the test.

use crate::answers::NOW;
use crate::harness::{catalog, config, query, render};
use crate::serve::{tcp_ask, Running};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use legate_dns::{DnsConfig, DnsHandler, RecursorStrategy, ServeLimits, Transport};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// The upstream's zone: `fail.example.` is SERVFAIL, a few names have A records, every
/// reverse name points at `upstream.example.`, anything else is NXDOMAIN.
fn upstream_answer(request: &Message) -> Message {
    let mut reply = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.queries = request.queries.clone();
    let Some(question) = request.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply;
    };
    let name = question.name.to_ascii().to_ascii_lowercase();
    let a = |ip: [u8; 4]| {
        Record::from_rdata(question.name.clone(), 300, RData::A(A(Ipv4Addr::from(ip))))
    };
    match name.as_str() {
        "fail.example." => reply.metadata.response_code = ResponseCode::ServFail,
        "example.com." => reply.answers.push(a([93, 184, 216, 34])),
        "db.internal.example." => reply.answers.push(a([10, 9, 9, 9])),
        _ if name.ends_with(".in-addr.arpa.") => reply.answers.push(Record::from_rdata(
            question.name.clone(),
            300,
            RData::PTR(PTR(Name::from_ascii("upstream.example.").unwrap())),
        )),
        _ => reply.metadata.response_code = ResponseCode::NXDomain,
    }
    reply
}

/// A running upstream on UDP and TCP (same port); counts the questions it gets.
struct Upstream {
    addr: SocketAddr,
    asked: Arc<AtomicUsize>,
}

async fn upstream() -> Upstream {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 65535];
        while let Ok((n, peer)) = socket.recv_from(&mut buffer).await {
            counter.fetch_add(1, Ordering::SeqCst);
            if let Ok(request) = Message::from_vec(&buffer[..n]) {
                let reply = upstream_answer(&request).to_vec().unwrap();
                let _ = socket.send_to(&reply, peer).await;
            }
        }
    });
    // TCP on the same port, when it is free.
    if let Ok(listener) = TcpListener::bind(addr).await {
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    while let Ok(length) = stream.read_u16().await {
                        let mut request = vec![0u8; usize::from(length)];
                        if stream.read_exact(&mut request).await.is_err() {
                            return;
                        }
                        let Ok(request) = Message::from_vec(&request) else {
                            return;
                        };
                        let reply = upstream_answer(&request).to_vec().unwrap();
                        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&reply);
                        if stream.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }
    Upstream { addr, asked }
}

/// An address where nothing listens: a UDP socket bound then closed.
async fn dead_address() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.local_addr().unwrap()
}

fn with_recursors(recursors: Vec<SocketAddr>) -> DnsConfig {
    DnsConfig {
        recursors,
        recursor_timeout: Duration::from_millis(500),
        ..config("default")
    }
}

async fn ask(
    handler: &DnsHandler<crate::harness::FakeCatalog>,
    name: &str,
    qtype: RecordType,
) -> Message {
    let raw = query(0x7777, name, qtype, None);
    let reply = handler
        .respond_at(&raw, Transport::Udp, NOW, &mut StdRng::seed_from_u64(3))
        .await
        .expect("a reply");
    Message::from_vec(&reply).unwrap()
}

#[tokio::test]
async fn forwards_names_outside_the_domain() {
    let up = upstream().await;
    let handler = DnsHandler::new(catalog(), with_recursors(vec![up.addr]));
    let reply = ask(&handler, "example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.id, 0x7777);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        reply.answers[0].data,
        RData::A(A(Ipv4Addr::new(93, 184, 216, 34)))
    );
    // NXDOMAIN from upstream is relayed as it is.
    let reply = ask(&handler, "nowhere.example.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    // Answers in the domain now say recursion is available.
    let reply = ask(&handler, "web.service.consul.", RecordType::A).await;
    assert!(reply.metadata.recursion_available);
    assert!(reply.metadata.authoritative);
}

#[tokio::test]
async fn tries_the_next_recursor_and_fails_with_servfail() {
    let up = upstream().await;
    let dead = dead_address().await;
    for strategy in [RecursorStrategy::Sequential, RecursorStrategy::Random] {
        let handler = DnsHandler::new(
            catalog(),
            DnsConfig {
                recursor_strategy: strategy,
                ..with_recursors(vec![dead, up.addr])
            },
        );
        let reply = ask(&handler, "example.com.", RecordType::A).await;
        assert_eq!(
            reply.answers.len(),
            1,
            "{strategy:?}: the live recursor answers"
        );
    }

    let handler = DnsHandler::new(catalog(), with_recursors(vec![up.addr, dead]));
    let before = up.asked.load(Ordering::SeqCst);
    let reply = ask(&handler, "fail.example.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(reply.metadata.recursion_available);
    assert_eq!(up.asked.load(Ordering::SeqCst), before + 1);

    let handler = DnsHandler::new(catalog(), with_recursors(vec![dead]));
    let reply = ask(&handler, "example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn resolves_external_service_addresses() {
    let up = upstream().await;
    let handler = DnsHandler::new(catalog(), with_recursors(vec![up.addr]));
    let reply = ask(&handler, "db.service.consul.", RecordType::A).await;
    let text: Vec<String> = reply.answers.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "db.service.consul. 0 IN CNAME db.internal.example.",
            "db.internal.example. 0 IN A 10.9.9.9",
        ]
    );
    let reply = ask(&handler, "db.service.consul.", RecordType::SRV).await;
    let rendered = render(&reply.to_vec().unwrap());
    assert!(
        rendered.contains("SRV 1 1 5432 db.internal.example."),
        "{rendered}"
    );
    assert!(
        rendered.contains("db.internal.example. 0 IN A 10.9.9.9"),
        "{rendered}"
    );
}

#[tokio::test]
async fn unknown_reverse_names_are_recursed() {
    let up = upstream().await;
    let handler = DnsHandler::new(catalog(), with_recursors(vec![up.addr]));
    let reply = ask(&handler, "9.9.9.9.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(
        reply.answers[0].data,
        RData::PTR(PTR(Name::from_ascii("upstream.example.").unwrap()))
    );
    // Known addresses are still answered locally.
    let reply = ask(&handler, "1.0.0.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(
        reply.answers[0].data,
        RData::PTR(PTR(Name::from_ascii("node1.node.dc1.consul.").unwrap()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_over_tcp_when_the_client_uses_tcp() {
    let up = upstream().await;
    let handler = DnsHandler::new(catalog(), with_recursors(vec![up.addr]));
    let server = Running::start_with(handler, ServeLimits::default()).await;
    let mut stream = tokio::net::TcpStream::connect(server.tcp).await.unwrap();
    let reply = tcp_ask(
        &mut stream,
        &query(0x1111, "example.com.", RecordType::A, None),
    )
    .await;
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.id, 0x1111);
    assert_eq!(reply.answers.len(), 1);
    server.stop().await;
}
