//! Serves the HTTP API over the in-memory `FakeBackend`, for poking at it with curl or a
//! Consul client without running Raft: `cargo run -p legate-api --example fake_agent [addr]`.

use legate_api::testing::FakeBackend;
use legate_api::{router, serve, ApiConfig, ServeLimits};
use std::sync::Arc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8500".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("fake agent listening on http://{}", listener.local_addr()?);
    let app = router(Arc::new(FakeBackend::new()), ApiConfig::default());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, app, ServeLimits::default(), shutdown).await
}
