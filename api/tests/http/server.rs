//! `serve` on a real loopback socket: the typed client end to end, the per-client
//! connection limit answering 429, and the drain on shutdown.

use legate_api::client::{KvDeleteOptions, KvPutOptions};
use legate_api::testing::FakeBackend;
use legate_api::types::{CheckBody, DeregisterBody, RegisterBody, ServiceBody};
use legate_api::{router, serve, ApiConfig, Client, ClientError, QueryOptions, ServeLimits};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Served {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(limits: ServeLimits) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(Arc::new(FakeBackend::new()), ApiConfig::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(serve(listener, app, limits, shutdown));
    Served {
        addr,
        stop: Some(stop),
        task,
    }
}

const REQUEST: &[u8] = b"GET /v1/status/leader HTTP/1.1\r\nHost: test\r\n\r\n";

/// Sends one request on a keep-alive connection and reads one whole answer.
async fn exchange(stream: &mut TcpStream) -> String {
    stream.write_all(REQUEST).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(
            read > 0,
            "closed early: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if text.ends_with("\"127.0.0.1:8300\"") {
            return text;
        }
    }
}

#[tokio::test]
async fn the_client_speaks_to_the_served_api() {
    let served = start(ServeLimits::default()).await;
    let client = Client::new(format!("http://{}/", served.addr));
    let any = QueryOptions::default();

    assert!(client
        .kv_put("app/a", b"one", &KvPutOptions::default())
        .await
        .unwrap());
    let flagged = KvPutOptions {
        flags: 7,
        cas: Some(0),
        ..KvPutOptions::default()
    };
    assert!(client.kv_put("app/b/c", b"two", &flagged).await.unwrap());
    assert!(!client.kv_put("app/b/c", b"again", &flagged).await.unwrap());
    let (pair, meta) = client.kv_get("app/a", &any).await.unwrap();
    let pair = pair.unwrap();
    assert_eq!(pair.value.as_deref(), Some(&b"one"[..]));
    assert_eq!(meta.index, pair.modify_index);
    assert!(meta.known_leader);
    assert_eq!(meta.consistency.as_deref(), Some("leader"));
    let (listed, _) = client.kv_list("app/", &any).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].flags, 7);
    let (keys, _) = client.kv_keys("app/", Some("/"), &any).await.unwrap();
    assert_eq!(keys, ["app/a", "app/b/"]);
    let recurse = KvDeleteOptions {
        recurse: true,
        ..KvDeleteOptions::default()
    };
    assert!(client.kv_delete("app/", &recurse).await.unwrap());
    let (gone, meta) = client.kv_get("app/a", &any).await.unwrap();
    assert!(gone.is_none());
    assert!(meta.index >= 1);
    let (none, _) = client.kv_keys("app/", None, &any).await.unwrap();
    assert!(none.is_empty());

    // A blocking read that times out answers the same index after its wait.
    let blocking = QueryOptions {
        index: meta.index,
        wait: Some(Duration::from_millis(300)),
        ..QueryOptions::default()
    };
    let started = Instant::now();
    let (_, after) = client.kv_get("app/a", &blocking).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(after.index, meta.index);

    let register = RegisterBody {
        node: Some("n1".into()),
        address: Some("10.0.0.1".into()),
        service: Some(ServiceBody {
            service: Some("web".into()),
            tags: Some(vec!["v1".into()]),
            port: Some(80),
            ..ServiceBody::default()
        }),
        check: Some(CheckBody {
            check_id: Some("web-check".into()),
            service_id: Some("web".into()),
            status: Some("passing".into()),
            ..CheckBody::default()
        }),
        ..RegisterBody::default()
    };
    assert!(client.catalog_register(&register).await.unwrap());
    assert_eq!(client.catalog_nodes(&any).await.unwrap().0[0].node, "n1");
    assert_eq!(
        client.catalog_services(&any).await.unwrap().0["web"],
        ["v1"]
    );
    let (instances, _) = client.catalog_service("web", &["v1"], &any).await.unwrap();
    assert_eq!(instances[0].service_port, 80);
    let (node, _) = client.catalog_node("n1", &any).await.unwrap();
    assert_eq!(node.unwrap().services["web"].service, "web");
    assert!(client
        .catalog_node("nobody", &any)
        .await
        .unwrap()
        .0
        .is_none());
    let (entries, _) = client.health_service("web", &[], true, &any).await.unwrap();
    assert_eq!(entries[0].aggregated_status(), "passing");
    assert_eq!(client.health_checks("web", &any).await.unwrap().0.len(), 1);
    assert_eq!(client.health_node("n1", &any).await.unwrap().0.len(), 1);
    assert_eq!(
        client.health_state("passing", &any).await.unwrap().0.len(),
        1
    );
    assert_eq!(client.catalog_datacenters().await.unwrap(), ["dc1"]);
    let deregister = DeregisterBody {
        node: Some("n1".into()),
        ..DeregisterBody::default()
    };
    assert!(client.catalog_deregister(&deregister).await.unwrap());

    assert_eq!(client.status_leader().await.unwrap(), "127.0.0.1:8300");
    assert_eq!(client.status_peers().await.unwrap(), ["127.0.0.1:8300"]);
    assert_eq!(client.agent_self().await.unwrap().config.node_name, "node1");
    assert_eq!(client.agent_members(false).await.unwrap()[0].status, 1);

    match client.kv_get("", &any).await {
        Err(ClientError::Status { status: 400, body }) => assert_eq!(body, "Missing key name"),
        other => panic!("expected a 400, got {other:?}"),
    }
    let unreachable = Client::new("http://127.0.0.1:1");
    assert!(matches!(
        unreachable.status_leader().await,
        Err(ClientError::Transport(_))
    ));
}

#[tokio::test]
async fn excess_connections_from_one_client_get_429_then_close() {
    let limits = ServeLimits {
        max_conns_per_client: 2,
        ..ServeLimits::default()
    };
    let served = start(limits).await;
    let mut first = TcpStream::connect(served.addr).await.unwrap();
    let mut second = TcpStream::connect(served.addr).await.unwrap();
    assert!(exchange(&mut first).await.starts_with("HTTP/1.1 200 OK"));
    assert!(exchange(&mut second).await.starts_with("HTTP/1.1 200 OK"));

    let mut third = TcpStream::connect(served.addr).await.unwrap();
    third.write_all(REQUEST).await.unwrap();
    let mut refused = String::new();
    third.read_to_string(&mut refused).await.unwrap();
    assert!(
        refused.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{refused}"
    );
    assert!(refused.ends_with(
        "\r\n\r\nYour IP is issuing too many concurrent connections, please rate limit your calls\n"
    ));

    // Closing one connection frees its slot.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut next = TcpStream::connect(served.addr).await.unwrap();
        next.write_all(REQUEST).await.unwrap();
        let mut head = [0u8; 12];
        next.read_exact(&mut head).await.unwrap();
        if &head == b"HTTP/1.1 200" {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(exchange(&mut second).await.starts_with("HTTP/1.1 200 OK"));
}

#[tokio::test]
async fn shutdown_drains_within_its_timeout() {
    let limits = ServeLimits {
        drain_timeout: Duration::from_millis(300),
        ..ServeLimits::default()
    };
    let mut served = start(limits).await;
    let client = Client::new(format!("http://{}", served.addr));
    client
        .kv_put("k", b"v", &KvPutOptions::default())
        .await
        .unwrap();
    let (_, meta) = client.kv_get("k", &QueryOptions::default()).await.unwrap();
    // A long poll in flight must not hold the shutdown past the drain timeout.
    let blocked = tokio::spawn(async move {
        let options = QueryOptions {
            index: meta.index,
            wait: Some(Duration::from_secs(60)),
            ..QueryOptions::default()
        };
        client.kv_get("k", &options).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    served.stop.take().unwrap().send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), served.task)
        .await
        .expect("serve returned")
        .unwrap();
    assert!(result.is_ok());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        TcpStream::connect(served.addr).await.is_err(),
        "no longer listening"
    );
    blocked.abort();
}
