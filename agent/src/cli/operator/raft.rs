//! `legate operator raft list-peers|remove-peer|transfer-leader`, printing what `consul
//! operator raft` prints.

use super::super::{table, HttpFlags, Outcome};
use clap::{Args, Subcommand};
use legate_api::client::PeerBy;
use legate_api::types::RaftConfiguration;

#[derive(Debug, Subcommand)]
pub enum RaftCommand {
    /// Show the Raft configuration: each server, its role and how far it trails the leader.
    ListPeers(ListPeersArgs),
    /// Remove a server from the Raft configuration by `-id` or `-address`.
    RemovePeer(RemovePeerArgs),
    /// Hand leadership to another server (`-id`, or any voter).
    TransferLeader(TransferLeaderArgs),
}

#[derive(Debug, Args)]
pub struct ListPeersArgs {
    #[command(flatten)]
    http: HttpFlags,
}

#[derive(Debug, Args)]
pub struct RemovePeerArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// The server's Raft ID.
    #[arg(long, default_value = "")]
    id: String,
    /// The server's `ip:port`.
    #[arg(long, default_value = "")]
    address: String,
}

#[derive(Debug, Args)]
pub struct TransferLeaderArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// The Raft ID of the server to transfer leadership to.
    #[arg(long, default_value = "")]
    id: String,
}

/// Consul's peer table. "Trails Leader By" is the leader's last index minus the server's.
pub fn peers_table(configuration: &RaftConfiguration) -> String {
    let leader_index = configuration
        .servers
        .iter()
        .find(|server| server.leader)
        .map_or(0, |server| server.last_index);
    let header = [
        "Node",
        "ID",
        "Address",
        "State",
        "Voter",
        "RaftProtocol",
        "Commit Index",
        "Trails Leader By",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for server in &configuration.servers {
        let protocol = match server.protocol_version.as_str() {
            "" => "<=1",
            version => version,
        };
        let trails = leader_index.saturating_sub(server.last_index);
        let trails = match (server.leader, trails) {
            (true, _) => "-".to_owned(),
            (false, 1) => "1 commit".to_owned(),
            (false, trails) => format!("{trails} commits"),
        };
        rows.push(vec![
            server.node.clone(),
            server.id.clone(),
            server.address.clone(),
            if server.leader { "leader" } else { "follower" }.to_owned(),
            server.voter.to_string(),
            protocol.to_owned(),
            server.last_index.to_string(),
            trails,
        ]);
    }
    table::render(&rows)
}

/// Consul's checks of `remove-peer`'s flags.
pub fn peer_by<'a>(id: &'a str, address: &'a str) -> Result<PeerBy<'a>, &'static str> {
    match (id.is_empty(), address.is_empty()) {
        (true, true) => Err("an address or id is required for the peer to remove"),
        (false, false) => Err("cannot give both an address and id"),
        (false, true) => Ok(PeerBy::Id(id)),
        (true, false) => Ok(PeerBy::Address(address)),
    }
}

pub async fn run(command: RaftCommand) -> Outcome {
    match command {
        RaftCommand::ListPeers(args) => {
            match args.http.client().raft_configuration(args.http.stale).await {
                Ok(configuration) => Outcome::ok(peers_table(&configuration)),
                Err(error) => Outcome::fail(format!(
                    "Error getting peers: Failed to retrieve raft configuration: {error}"
                )),
            }
        }
        RaftCommand::RemovePeer(args) => {
            let by = match peer_by(&args.id, &args.address) {
                Ok(by) => by,
                Err(message) => return Outcome::fail(format!("Error removing peer: {message}")),
            };
            match args.http.client().raft_remove_peer(by).await {
                Ok(()) => Outcome::ok(match by {
                    PeerBy::Address(address) => format!("Removed peer with address {address:?}\n"),
                    PeerBy::Id(id) => format!("Removed peer with id {id:?}\n"),
                }),
                Err(error) => Outcome::fail(format!("Error removing peer: {error}")),
            }
        }
        RaftCommand::TransferLeader(args) => {
            let id = Some(args.id.as_str()).filter(|id| !id.is_empty());
            match args.http.client().raft_transfer_leader(id).await {
                Ok(true) => Outcome::ok("Success\n".to_owned()),
                Ok(false) => Outcome::fail(
                    "Error transfering leadership: Failed to transfer leadership".to_owned(),
                ),
                // Consul's wording, its spelling and missing colon included.
                Err(error) => Outcome::fail(format!(
                    "Error transfering leadership: Failed to transfer leadership {error}"
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_api::types::RaftServer;

    fn server(node: &str, leader: bool, last_index: u64) -> RaftServer {
        RaftServer {
            id: format!("{node}-id"),
            node: node.into(),
            address: format!("10.0.0.{}:8300", node.len()),
            leader,
            protocol_version: "3".into(),
            voter: true,
            last_index,
        }
    }

    #[test]
    fn table_matches_consuls_columns() {
        let configuration = RaftConfiguration {
            servers: vec![
                server("n1", true, 108),
                server("n22", false, 107),
                server("n333", false, 100),
            ],
            index: 9,
        };
        assert_eq!(
            peers_table(&configuration),
            "Node  ID       Address        State     Voter  RaftProtocol  Commit Index  \
             Trails Leader By\n\
             n1    n1-id    10.0.0.2:8300  leader    true   3             108           -\n\
             n22   n22-id   10.0.0.3:8300  follower  true   3             107           \
             1 commit\n\
             n333  n333-id  10.0.0.4:8300  follower  true   3             100           \
             8 commits\n"
        );
    }

    #[test]
    fn remove_peer_needs_exactly_one_selector() {
        assert_eq!(peer_by("x", ""), Ok(PeerBy::Id("x")));
        assert_eq!(
            peer_by("", "1.2.3.4:8300"),
            Ok(PeerBy::Address("1.2.3.4:8300"))
        );
        assert!(peer_by("", "").is_err());
        assert!(peer_by("x", "y").is_err());
    }
}
