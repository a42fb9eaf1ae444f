//! Malformed input: hand-made bad packets get FORMERR, and thousands of random or mutated
//! packets neither panic the handler nor stop a running server.

use crate::answers::NOW;
use crate::harness::{catalog, config, query};
use crate::serve::{tcp_ask, udp_ask, Running};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use legate_dns::{DnsHandler, ServeLimits, Transport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

fn rcode(reply: &[u8]) -> u8 {
    reply[3] & 0x0f
}

/// A packet: a valid question, then mutated (bytes flipped, cut, extended), or plain noise.
fn packet(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.gen_ratio(1, 4) {
        let len = rng.gen_range(0..600);
        return (0..len).map(|_| rng.gen()).collect();
    }
    let mut packet = seeds[rng.gen_range(0..seeds.len())].clone();
    for _ in 0..rng.gen_range(1..6) {
        match rng.gen_range(0..4) {
            0 if !packet.is_empty() => {
                let at = rng.gen_range(0..packet.len());
                packet[at] = rng.gen();
            }
            1 if !packet.is_empty() => {
                let at = rng.gen_range(0..packet.len());
                packet.truncate(at);
            }
            2 => packet.extend((0..rng.gen_range(1..40)).map(|_| rng.gen::<u8>())),
            _ if packet.len() > 12 => {
                // Point a name somewhere arbitrary: compression loops and wild pointers.
                let at = rng.gen_range(12..packet.len());
                packet[at] = 0xc0;
                if at + 1 < packet.len() {
                    packet[at + 1] = rng.gen();
                }
            }
            _ => {}
        }
    }
    packet
}

fn seeds() -> Vec<Vec<u8>> {
    vec![
        query(1, "web.service.consul.", RecordType::SRV, None),
        query(2, "many.service.consul.", RecordType::A, Some(4096)),
        query(3, "node1.node.consul.", RecordType::ANY, None),
        query(4, "1.0.0.10.in-addr.arpa.", RecordType::PTR, None),
        query(5, "consul.", RecordType::NS, None),
        query(6, "example.com.", RecordType::A, None),
    ]
}

#[test]
fn malformed_packets_get_formerr() {
    let handler = DnsHandler::new(catalog(), config("default"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ask = |packet: Vec<u8>| runtime.block_on(handler.respond(&packet, Transport::Udp));
    let header = |qd: u8| vec![0xbe, 0xef, 0x01, 0x00, 0, qd, 0, 0, 0, 0, 0, 0];

    // A name that points at itself.
    let mut looped = header(1);
    looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    // A 64-byte label (labels stop at 63).
    let mut long_label = header(1);
    long_label.push(64);
    long_label.extend(std::iter::repeat_n(b'a', 64));
    long_label.extend_from_slice(&[0, 0, 1, 0, 1]);
    // A name of more than 255 bytes.
    let mut long_name = header(1);
    for _ in 0..5 {
        long_name.push(60);
        long_name.extend(std::iter::repeat_n(b'b', 60));
    }
    long_name.extend_from_slice(&[0, 0, 1, 0, 1]);
    // The question cut short, and two questions.
    let mut cut = query(9, "web.service.consul.", RecordType::A, None);
    cut.truncate(20);
    let mut two = query(9, "web.service.consul.", RecordType::A, None);
    two[5] = 2;

    for (what, packet) in [
        ("compression loop", looped),
        ("long label", long_label),
        ("long name", long_name),
        ("cut question", cut),
        ("two questions", two),
        ("no question", header(0)),
    ] {
        let reply = ask(packet.clone()).unwrap_or_else(|| panic!("{what}: no reply"));
        assert_eq!(rcode(&reply), 1, "{what}: FORMERR");
        assert_eq!(reply[..2], packet[..2], "{what}: id echoed");
        Message::from_vec(&reply).unwrap_or_else(|e| panic!("{what}: reply decodes: {e}"));
    }
    assert_eq!(ask(vec![1, 2, 3]), None, "too short to answer");
}

#[tokio::test]
async fn handler_survives_random_and_mutated_packets() {
    let handler = DnsHandler::new(catalog(), config("default"));
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut answered = 0;
    for i in 0..20_000 {
        let packet = packet(&mut rng, &seeds);
        let transport = if i % 2 == 0 {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        let mut answer_rng = StdRng::seed_from_u64(i);
        if let Some(reply) = handler
            .respond_at(&packet, transport, NOW, &mut answer_rng)
            .await
        {
            answered += 1;
            assert!(reply.len() >= 12, "packet {i}: reply has a header");
            assert_eq!(reply[..2], packet[..2], "packet {i}: id echoed");
            Message::from_vec(&reply).unwrap_or_else(|e| panic!("packet {i}: reply decodes: {e}"));
        }
    }
    assert!(answered > 1_000, "most packets get some reply ({answered})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_survives_a_flood_of_bad_packets() {
    let server = Running::start(ServeLimits::default()).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(42);
    for i in 0..2_000 {
        let packet = packet(&mut rng, &seeds);
        socket.send_to(&packet, server.udp).await.unwrap();
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    // TCP garbage: a frame of noise, then a length prefix promising more than is sent.
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    stream.write_all(&[0, 5, 1, 2, 3, 4, 5]).await.unwrap();
    stream.write_all(&[0xff, 0xff, 1, 2]).await.unwrap();
    drop(stream);

    let reply = udp_ask(
        server.udp,
        &query(0x4242, "web.service.consul.", RecordType::A, None),
    )
    .await;
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    // node1 and node2; node4 has only an IPv6 address.
    assert_eq!(reply.answers.len(), 2);
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    let reply = tcp_ask(
        &mut stream,
        &query(0x4343, "node1.node.consul.", RecordType::A, None),
    )
    .await;
    assert_eq!(Message::from_vec(&reply).unwrap().answers.len(), 1);
    server.stop().await;
}
