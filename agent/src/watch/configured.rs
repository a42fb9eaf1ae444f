//! The `watches` of the agent's config files, run by the agent against its own HTTP API as
//! Consul's agent runs them: one task per watch, its handler run once per change, one run
//! at a time, its output logged; a failing handler or query never stops the watch.

use super::handler::{self, OutputTo};
use super::spec::WatchDefinition;
use super::watcher::Watcher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio_util::sync::CancellationToken;

/// The URL of the agent's own HTTP API bound at `addr`: a wildcard bind is reached on
/// loopback.
pub fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Starts every watch against the agent at `base_url`; they stop with `cancel`.
pub fn start(watches: Vec<WatchDefinition>, base_url: &str, cancel: CancellationToken) {
    for (number, watch) in watches.into_iter().enumerate() {
        tokio::spawn(run(number, watch, base_url.to_owned(), cancel.clone()));
    }
}

async fn run(number: usize, watch: WatchDefinition, base_url: String, cancel: CancellationToken) {
    let mut watcher = Watcher::new(watch.query, &base_url);
    let kind = format!("{:?}", watcher.query().kind);
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return,
            next = watcher.next() => next,
        };
        let answer = match next {
            Ok(answer) => answer,
            Err(failed) => {
                tracing::error!(
                    "watch {number} ({kind}) errored: {}, retry in {:?}",
                    failed.error,
                    failed.retry
                );
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(failed.retry) => continue,
                }
            }
        };
        // A handler still running when the agent stops is killed with it.
        let ran = tokio::select! {
            () = cancel.cancelled() => return,
            ran = handler::run(&watch.handler, answer.index, &answer.result, OutputTo::Keep) => ran,
        };
        match ran {
            Ok(output) => {
                tracing::debug!("watch {number} ({kind}): handler output: {}", output.text())
            }
            Err(error) => tracing::error!(
                "watch {number} ({kind}): failed to run handler {:?}: {error}",
                watch.handler
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_bind_is_reached_on_loopback() {
        assert_eq!(
            base_url("0.0.0.0:8500".parse().unwrap()),
            "http://127.0.0.1:8500"
        );
        assert_eq!(base_url("[::]:8500".parse().unwrap()), "http://[::1]:8500");
        assert_eq!(
            base_url("10.0.0.2:18500".parse().unwrap()),
            "http://10.0.0.2:18500"
        );
    }
}
