//! Round-trip time of one server RPC call on loopback, framed transport against HTTP/2: the
//! cost every Raft replication and every forwarded call pays per hop.
//!
//! Caller and server run on runtimes of their own, on threads of their own, as two agents
//! would. Usage (release build; the arguments are optional):
//!
//! ```text
//! cargo run --release -p legate-agent --example rpc_roundtrip -- [calls] [rounds]
//! ```

use legate_agent::server::rpc::message::{Request, RequestV1, ResponseV1};
use legate_agent::server::rpc::{serve, Handler, RpcClient, RpcLimits};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Answers at once, so the figure is the transport's alone.
struct Instant_;

impl Handler for Instant_ {
    async fn handle(&self, _request: RequestV1, _peer: SocketAddr) -> ResponseV1 {
        ResponseV1::ElectionTriggered
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6
}

async fn measure(client: &RpcClient, addr: &str, calls: usize) -> Vec<Duration> {
    let request = Request::V1(RequestV1::Status);
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        client
            .call(addr, &request, Duration::from_secs(5))
            .await
            .expect("the call succeeds");
        times.push(start.elapsed());
    }
    times.sort();
    times
}

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("address").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        runtime().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let cancel = tokio_util::sync::CancellationToken::new();
            tokio::spawn(serve(
                listener,
                Arc::new(Instant_),
                RpcLimits::default(),
                cancel.clone(),
            ));
            let _ = stopped.await;
            cancel.cancel();
        });
    });
    // Calls run in a spawned task, on a worker thread, as an agent's calls do (`block_on`'s
    // own thread is woken from outside the workers, which costs a wake-up per call).
    let caller = async move {
        println!("| round | transport | p50 µs | p90 µs | p99 µs |");
        println!("|---|---|---:|---:|---:|");
        for round in 1..=rounds {
            for (name, client) in [
                ("framed", RpcClient::new()),
                ("http2", RpcClient::http2_only()),
            ] {
                // Warm the connection first.
                measure(&client, &addr, 100).await;
                let times = measure(&client, &addr, calls).await;
                println!(
                    "| {round} | {name} | {:.0} | {:.0} | {:.0} |",
                    quantile(&times, 0.5),
                    quantile(&times, 0.9),
                    quantile(&times, 0.99)
                );
            }
        }
    };
    runtime().block_on(async { tokio::spawn(caller).await.expect("the caller finishes") });
    let _ = stop.send(());
    let _ = server.join();
}
