//! The transport against real sockets on loopback: framed and HTTP/2 callers and servers in
//! every pairing a rolling upgrade meets, the limits, and what malformed input does.

use super::frame::{self, Header, Kind};
use super::message::{OperatorRequest, Request, RequestV1, ResponseV1};
use super::{serve, Handler, RpcClient, RpcError, RpcLimits};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(10);

/// Answers `FireEvent { gossip_name, payload }` with `Datacenters([gossip_name, "x" × payload
/// length])`, so a long request gets a long answer, after passing `gate` when it has one.
#[derive(Default)]
struct Echo {
    handled: AtomicUsize,
    gate: Option<Arc<Semaphore>>,
}

impl Handler for Echo {
    async fn handle(&self, request: RequestV1, _peer: SocketAddr) -> ResponseV1 {
        self.handled.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate open").forget();
        }
        match request {
            RequestV1::Operator(OperatorRequest::FireEvent {
                gossip_name,
                payload,
            }) => ResponseV1::Datacenters(vec![gossip_name, "x".repeat(payload.len())]),
            other => ResponseV1::Failed(format!("{other:?}")),
        }
    }
}

fn event(name: &str, len: usize) -> Request {
    Request::V1(RequestV1::Operator(OperatorRequest::FireEvent {
        gossip_name: name.to_owned(),
        payload: vec![7; len],
    }))
}

struct Server {
    addr: String,
    echo: Arc<Echo>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start(echo: Echo, limits: RpcLimits) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let echo = Arc::new(echo);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(serve(listener, echo.clone(), limits, cancel.clone()));
    Server {
        addr,
        echo,
        cancel,
        task,
    }
}

async fn calls_answer_in_any_pairing(client: RpcClient, limits: RpcLimits) {
    let server = start(Echo::default(), limits).await;
    // Many calls at once on the one connection, one of them long enough to be chunked both
    // ways; every answer reaches its own caller.
    let mut calls = Vec::new();
    for at in 0..40 {
        let client = client.clone();
        let addr = server.addr.clone();
        let len = if at == 7 {
            3 * frame::CHUNK_BYTES + 5
        } else {
            at
        };
        calls.push(tokio::spawn(async move {
            let answer = client
                .call(&addr, &event(&format!("call-{at}"), len), DEADLINE)
                .await
                .unwrap();
            (at, len, answer)
        }));
    }
    for call in calls {
        let (at, len, answer) = call.await.unwrap();
        assert_eq!(
            answer,
            ResponseV1::Datacenters(vec![format!("call-{at}"), "x".repeat(len)])
        );
    }
    server.cancel.cancel();
}

#[tokio::test]
async fn framed_calls_answer_their_own_callers_long_messages_included() {
    calls_answer_in_any_pairing(RpcClient::new(), RpcLimits::default()).await;
}

#[tokio::test]
async fn a_caller_of_the_previous_release_is_served_over_http2() {
    calls_answer_in_any_pairing(RpcClient::http2_only(), RpcLimits::default()).await;
}

#[tokio::test]
async fn a_server_of_the_previous_release_is_called_over_http2() {
    let old_server = RpcLimits {
        framed: false,
        ..RpcLimits::default()
    };
    calls_answer_in_any_pairing(RpcClient::new(), old_server).await;
}

/// A raw framed connection, past the handshake.
async fn raw(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&frame::hello()).await.unwrap();
    let mut answer = [0; frame::ANSWER_BYTES];
    stream.read_exact(&mut answer).await.unwrap();
    assert_eq!(frame::parse_answer(&answer), Some(frame::VERSION));
    stream
}

/// Reads until the server closes the connection; fails if it does not within the deadline.
async fn closed_by_server(stream: &mut TcpStream) {
    let mut sink = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut sink))
        .await
        .expect("the server closes the connection")
        .ok();
}

#[tokio::test]
async fn malformed_frames_close_the_connection_and_are_not_acted_on() {
    let server = start(Echo::default(), RpcLimits::default()).await;
    let undecodable = frame::frames(Kind::Request, 1, b"\xff\xff\xff not a request");
    let oversized = Header {
        kind: Kind::Request,
        end: true,
        id: 2,
        len: frame::CHUNK_BYTES as u32 + 1,
    }
    .encode()
    .to_vec();
    let reply_kind = frame::frames(Kind::Response, 3, b"");
    let mut unknown_kind = frame::frames(Kind::Request, 4, b"").remove(0);
    unknown_kind[0] = 9;
    for bad in [
        undecodable[0].clone(),
        oversized,
        reply_kind[0].clone(),
        unknown_kind,
    ] {
        let mut stream = raw(&server.addr).await;
        stream.write_all(&bad).await.unwrap();
        closed_by_server(&mut stream).await;
    }
    // A hello that is not one is closed too, whatever protocol it claims.
    let mut stream = TcpStream::connect(&server.addr).await.unwrap();
    let mut bad_hello = frame::hello();
    bad_hello[4] = 0;
    stream.write_all(&bad_hello).await.unwrap();
    closed_by_server(&mut stream).await;
    assert_eq!(server.echo.handled.load(Ordering::SeqCst), 0);

    // Over the request limit: refused before it is all read, and not handled.
    let small = start(
        Echo::default(),
        RpcLimits {
            request_bytes: 2 * frame::CHUNK_BYTES,
            ..RpcLimits::default()
        },
    )
    .await;
    let error = RpcClient::new()
        .call(&small.addr, &event("big", 3 * frame::CHUNK_BYTES), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(error, RpcError::Transport { .. }), "{error:?}");
    assert_eq!(small.echo.handled.load(Ordering::SeqCst), 0);
    // The pool opens a new connection for the next call.
    let answer = RpcClient::new()
        .call(&small.addr, &event("small", 3), DEADLINE)
        .await
        .unwrap();
    assert_eq!(
        answer,
        ResponseV1::Datacenters(vec!["small".into(), "xxx".into()])
    );
}

#[tokio::test]
async fn a_connection_runs_at_most_its_limit_of_calls_at_once() {
    let gate = Arc::new(Semaphore::new(0));
    let server = start(
        Echo {
            gate: Some(gate.clone()),
            ..Echo::default()
        },
        RpcLimits {
            streams_per_connection: 2,
            ..RpcLimits::default()
        },
    )
    .await;
    let client = RpcClient::new();
    let mut calls = Vec::new();
    for at in 0..3 {
        let client = client.clone();
        let addr = server.addr.clone();
        calls.push(tokio::spawn(async move {
            client
                .call(&addr, &event(&at.to_string(), 1), DEADLINE)
                .await
        }));
    }
    let handled = || server.echo.handled.load(Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while handled() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "two calls start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The third waits for a slot: give it time to (wrongly) start, then check it did not.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(handled(), 2);
    gate.add_permits(3);
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(handled(), 3);
}

#[tokio::test]
async fn a_restarted_server_is_reached_on_a_new_connection() {
    let server = start(Echo::default(), RpcLimits::default()).await;
    let client = RpcClient::new();
    client
        .call(&server.addr, &event("a", 1), DEADLINE)
        .await
        .unwrap();
    server.cancel.cancel();
    server.task.await.unwrap();
    // The same port, a new server: the old link is closed and a new one opened.
    let listener = TcpListener::bind(&server.addr).await.unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(serve(
        listener,
        Arc::new(Echo::default()),
        RpcLimits::default(),
        cancel.clone(),
    ));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match client.call(&server.addr, &event("b", 1), DEADLINE).await {
            Ok(answer) => {
                assert_eq!(
                    answer,
                    ResponseV1::Datacenters(vec!["b".into(), "x".into()])
                );
                break;
            }
            // The one call that found the old link closed under it.
            Err(error) => assert!(tokio::time::Instant::now() < deadline, "{error}"),
        }
    }
    cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_server_that_stops_answering_is_given_up_on_after_a_ping() {
    // Answers the hello, then reads everything and says nothing, as a hung process would.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut hello = [0; frame::HELLO_BYTES];
        stream.read_exact(&mut hello).await.unwrap();
        stream
            .write_all(&frame::answer(frame::VERSION))
            .await
            .unwrap();
        let mut sink = vec![0; 1 << 16];
        while stream.read(&mut sink).await.unwrap_or(0) > 0 {}
    });
    let error = RpcClient::new()
        .call(&addr, &event("hung", 1), Duration::from_secs(600))
        .await
        .unwrap_err();
    match error {
        RpcError::Transport { reason, .. } => assert!(reason.contains("ping"), "{reason}"),
        other => panic!("expected the link to close on a missed ping, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_never_says_which_protocol_is_closed() {
    let server = start(Echo::default(), RpcLimits::default()).await;
    let mut stream = TcpStream::connect(&server.addr).await.unwrap();
    let mut sink = Vec::new();
    // Paused time runs on to the handshake limit at once.
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut sink)).await;
    assert!(matches!(read, Ok(Ok(0))), "{read:?}");
}

#[tokio::test]
async fn a_caller_that_stops_reading_is_disconnected() {
    let server = start(
        Echo::default(),
        RpcLimits {
            streams_per_connection: 4,
            write_stall: Duration::from_millis(300),
            ..RpcLimits::default()
        },
    )
    .await;
    let mut stream = raw(&server.addr).await;
    // Each call asks for a 1 MiB answer, and none is read: the socket buffers fill, the
    // server's writes stall, and it must close the connection rather than hold it (and its
    // call slots) for ever. A write failing is the sign it did.
    let big = legate_catalog::codec::encode(&event("big", 1 << 20));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    for id in 1.. {
        let frames = frame::frames(Kind::Request, id, &big);
        let wrote = tokio::time::timeout(Duration::from_secs(1), async {
            for frame in &frames {
                stream.write_all(frame).await?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
        if matches!(wrote, Ok(Err(_))) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server kept a connection whose caller reads nothing"
        );
    }
    assert!(server.echo.handled.load(Ordering::SeqCst) >= 4);
}
