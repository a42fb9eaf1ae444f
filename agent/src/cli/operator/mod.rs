//! `legate operator raft|autopilot ...`: the Raft peer set and autopilot, as `consul
//! operator` manages them.
//!
//! Layout:
//! - `raft`: `list-peers`, `remove-peer`, `transfer-leader`.
//! - `autopilot`: `get-config`, `set-config`, `state`.

mod autopilot;
mod raft;

use super::Outcome;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Inspect and change the Raft peer set.
    #[command(subcommand)]
    Raft(raft::RaftCommand),
    /// Read and change autopilot's configuration, or show its state.
    #[command(subcommand)]
    Autopilot(autopilot::AutopilotCommand),
}

pub async fn run(command: OperatorCommand) -> Outcome {
    match command {
        OperatorCommand::Raft(command) => raft::run(command).await,
        OperatorCommand::Autopilot(command) => autopilot::run(command).await,
    }
}
