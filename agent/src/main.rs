//! The `legate` binary: `legate agent` runs an agent; every other verb is an HTTP client of
//! one, like Consul's CLI (`-http-addr` or `CONSUL_HTTP_ADDR` pick which).

use clap::Parser;
use legate_agent::cli::{self, Cli, Verb};
use legate_agent::config::{normalize_args, Config};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(normalize_args(std::env::args())) {
        Ok(cli) => cli,
        // Consul's commands exit 1 on arguments they cannot parse (clap's default is 2);
        // `-help` and `-version` still print and exit 0.
        Err(error) if error.use_stderr() => {
            let _ = error.print();
            return ExitCode::from(1);
        }
        Err(error) => error.exit(),
    };
    match cli.command {
        Verb::Agent(flags) => {
            let config = match Config::resolve(&flags) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("==> {error}");
                    return ExitCode::from(1);
                }
            };
            init_logging(&config.log_level);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let shutdown = legate_agent::run::Shutdown::new();
            let run = async {
                let on_signal = shutdown.clone();
                tokio::spawn(async move {
                    on_signal.stop(shutdown_signal().await);
                });
                legate_agent::run::bind_and_run(config, shutdown).await
            };
            match runtime.block_on(run) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("==> Error starting agent: {error:#}");
                    ExitCode::from(1)
                }
            }
        }
        other => cli::run_client(other),
    }
}

/// Completes on SIGINT or SIGTERM, saying which.
async fn shutdown_signal() -> legate_agent::run::StopReason {
    use legate_agent::run::StopReason;
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => StopReason::Interrupt,
        _ = terminate.recv() => StopReason::Terminate,
    }
}

/// Logs to stderr at the agent's level. Dependencies' chatter (openraft, sled) stays at
/// warnings unless `RUST_LOG` asks for more: their info lines would bury the agent's.
fn init_logging(level: &str) {
    let level = match level.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "warn" => "warn",
        "err" | "error" => "error",
        _ => "info",
    };
    let default = format!("{level},openraft=warn,sled=warn,hyper=warn,h2=warn");
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true)
        .init();
}
