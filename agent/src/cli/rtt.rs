//! `legate rtt [-wan] NODE1 [NODE2]`: the round trip between two nodes as their network
//! coordinates estimate it, computed here from the coordinates the agent lists, as
//! `consul rtt` does. Without NODE2 the other end is the agent itself; with `-wan` the nodes
//! are servers in the WAN pool, named `node.dc`.

use super::{HttpFlags, Outcome};
use clap::Args;
use legate_api::types::CoordinateEntry;
use legate_catalog::Coord;

#[derive(Debug, Args)]
pub struct RttArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Use WAN coordinates (servers, named `node.dc`).
    #[arg(long)]
    wan: bool,
    /// One or two node names.
    nodes: Vec<String>,
}

pub async fn run(args: RttArgs) -> Outcome {
    if args.nodes.is_empty() || args.nodes.len() > 2 {
        return Outcome::fail(
            "One or two node names must be specified\n\n\
             Usage: legate rtt [options] node1 [node2]"
                .to_owned(),
        );
    }
    let client = args.http.client();
    let mut nodes = args.nodes.clone();
    if nodes.len() == 1 {
        let me = match client.agent_self().await {
            Ok(me) => me,
            Err(error) => return Outcome::fail(format!("Unable to look up agent info: {error}")),
        };
        nodes.push(if args.wan {
            format!("{}.{}", me.config.node_name, me.config.datacenter)
        } else {
            me.config.node_name
        });
    }
    let (coordinates, source) = if args.wan {
        match client.coordinate_datacenters().await {
            Ok(maps) => (
                maps.into_iter()
                    .flat_map(|map| map.coordinates)
                    .collect::<Vec<_>>(),
                "WAN",
            ),
            Err(error) => {
                return Outcome::fail(format!("Error getting coordinates: {error}"));
            }
        }
    } else {
        match client.coordinate_nodes(&args.http.query()).await {
            Ok(entries) => (entries, "LAN"),
            Err(error) => {
                return Outcome::fail(format!("Error getting coordinates: {error}"));
            }
        }
    };
    let find = |name: &str| -> Result<Coord, String> {
        coordinates
            .iter()
            .find(|entry: &&CoordinateEntry| entry.node == name)
            .and_then(|entry| entry.coord.clone())
            .map(Coord::from)
            .ok_or_else(|| format!("Could not find a coordinate for node {name:?}"))
    };
    let (a, b) = match (find(&nodes[0]), find(&nodes[1])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(error), _) | (_, Err(error)) => return Outcome::fail(error),
    };
    Outcome::ok(line(&nodes[0], &nodes[1], a.distance_to(&b), source))
}

/// Consul's output line.
fn line(a: &str, b: &str, seconds: f64, source: &str) -> String {
    format!(
        "Estimated {a} <-> {b} rtt: {:.3} ms (using {source} coordinates)\n",
        seconds * 1000.0
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn prints_what_consul_prints() {
        assert_eq!(
            super::line("n1", "n2", 0.0012345, "LAN"),
            "Estimated n1 <-> n2 rtt: 1.234 ms (using LAN coordinates)\n"
        );
    }
}
