//! `serve` on loopback: UDP on two SO_REUSEPORT sockets and TCP, with hand-built queries.

use crate::harness::{catalog, config, query, query_with};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::ClientSubnet;
use hickory_proto::rr::RData;
use hickory_proto::rr::RecordType;
use legate_dns::{bind_udp_reuseport, serve, serve_with_limits, DnsHandler, ServeLimits};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// A running server and the means to stop it.
pub struct Running {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub async fn start(limits: ServeLimits) -> Running {
        Self::start_with(DnsHandler::new(catalog(), config("default")), limits).await
    }

    pub async fn start_with(
        handler: DnsHandler<crate::harness::FakeCatalog>,
        limits: ServeLimits,
    ) -> Running {
        let sockets = bind_udp_reuseport("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let udp = sockets[0].local_addr().unwrap();
        assert_eq!(
            sockets[1].local_addr().unwrap(),
            udp,
            "both sockets share the port"
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if limits == ServeLimits::default() {
                serve(sockets, Some(listener), handler, shutdown).await
            } else {
                serve_with_limits(sockets, Some(listener), handler, limits, shutdown).await
            }
        });
        Running {
            udp,
            tcp,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        timeout(Duration::from_secs(5), self.task.take().unwrap())
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

/// Sends a UDP question and waits for the reply with our id, retrying a few times since
/// loopback UDP may still drop under load.
pub async fn udp_ask(server: SocketAddr, packet: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buffer = vec![0u8; 65535];
    for _ in 0..5 {
        socket.send_to(packet, server).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(Ok((n, _))) =
            tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await
        {
            if n >= 2 && buffer[..2] == packet[..2] {
                return buffer[..n].to_vec();
            }
        }
    }
    panic!("no UDP reply from {server}");
}

pub async fn tcp_ask(stream: &mut TcpStream, packet: &[u8]) -> Vec<u8> {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.unwrap();
    let length = timeout(Duration::from_secs(5), stream.read_u16())
        .await
        .unwrap()
        .unwrap();
    let mut reply = vec![0u8; usize::from(length)];
    stream.read_exact(&mut reply).await.unwrap();
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_udp_and_tcp() {
    let server = Running::start(ServeLimits::default()).await;

    let reply = udp_ask(
        server.udp,
        &query(7, "web.service.consul.", RecordType::SRV, None),
    )
    .await;
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.id, 7);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.answers.len(), 3);

    // Without EDNS, UDP carries at most udp_answer_limit (3) answers; TCP carries all 20,
    // and several questions can share one connection.
    let many = query(8, "many.service.consul.", RecordType::A, None);
    let reply = Message::from_vec(&udp_ask(server.udp, &many).await).unwrap();
    assert_eq!(reply.answers.len(), 3);
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    for id in [9u16, 10] {
        let reply = tcp_ask(
            &mut stream,
            &query(id, "many.service.consul.", RecordType::A, None),
        )
        .await;
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.metadata.id, id);
        assert_eq!(reply.answers.len(), 20);
    }

    let reply = udp_ask(
        server.udp,
        &query(11, "nosuch.service.consul.", RecordType::A, None),
    )
    .await;
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(reply.authorities.len(), 1);

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_capped_and_time_out() {
    let limits = ServeLimits {
        tcp_connections: 1,
        tcp_idle_timeout: Duration::from_millis(300),
        ..ServeLimits::default()
    };
    let server = Running::start(limits).await;

    let mut first = TcpStream::connect(server.tcp).await.unwrap();
    let reply = tcp_ask(
        &mut first,
        &query(1, "web.service.consul.", RecordType::A, None),
    )
    .await;
    assert_eq!(Message::from_vec(&reply).unwrap().metadata.id, 1);

    // The second connection is over the cap and is closed without an answer.
    let mut second = TcpStream::connect(server.tcp).await.unwrap();
    let mut byte = [0u8; 1];
    let read = timeout(Duration::from_secs(2), second.read(&mut byte))
        .await
        .unwrap();
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "over-cap connection is closed"
    );

    // The first goes idle and is closed after the idle timeout.
    let read = timeout(Duration::from_secs(2), first.read(&mut byte))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "idle connection is closed");

    // Its slot is free again.
    let mut third = TcpStream::connect(server.tcp).await.unwrap();
    let reply = tcp_ask(
        &mut third,
        &query(3, "web.service.consul.", RecordType::A, None),
    )
    .await;
    assert_eq!(Message::from_vec(&reply).unwrap().metadata.id, 3);

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_with_idle_connections_open() {
    let server = Running::start(ServeLimits::default()).await;
    let _idle = TcpStream::connect(server.tcp).await.unwrap();
    let reply = udp_ask(server.udp, &query(1, "consul.", RecordType::SOA, None)).await;
    assert_eq!(Message::from_vec(&reply).unwrap().answers.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_hickory_server() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let mut server = hickory_server::Server::new(DnsHandler::new(catalog(), config("default")));
    server.register_socket(socket);
    let reply = udp_ask(
        addr,
        &query(5, "web.service.consul.", RecordType::SRV, None),
    )
    .await;
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.id, 5);
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.answers.len(), 3);
    assert_eq!(reply.additionals.len(), 5, "glue and node-meta TXT");
    let reply = udp_ask(addr, &query(6, "nosuch.node.consul.", RecordType::A, None)).await;
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    timeout(Duration::from_secs(5), server.shutdown_gracefully())
        .await
        .unwrap()
        .unwrap();
}

/// A prepared query's `Near: "_ip"` needs the asker: the lookup is told the EDNS client
/// subnet's address when the question has one, else the address it came from, over UDP and
/// TCP alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_queries_learn_who_asked() {
    let server = Running::start(ServeLimits::default()).await;
    let address = |reply: Vec<u8>| -> String {
        let reply = Message::from_vec(&reply).unwrap();
        match reply.answers.first().map(|record| &record.data) {
            Some(RData::A(a)) => a.to_string(),
            other => panic!("expected one A record, got {other:?}"),
        }
    };
    let plain = query(21, "asker-q.query.consul.", RecordType::A, None);
    assert_eq!(address(udp_ask(server.udp, &plain).await), "127.0.0.1");
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    assert_eq!(address(tcp_ask(&mut stream, &plain).await), "127.0.0.1");
    let subnet = ClientSubnet::new("10.9.8.0".parse().unwrap(), 24, 0);
    let on_behalf = query_with(
        22,
        "asker-q.query.consul.",
        RecordType::A,
        Some(4096),
        Some(subnet),
    );
    assert_eq!(address(udp_ask(server.udp, &on_behalf).await), "10.9.8.0");
    server.stop().await;
}
