//! Test hosts in network namespaces that the test creates: one namespace per agent, each with
//! a veth pair to a bridge in the test's own namespace, and partitions made with nftables
//! rules inside a host's namespace. Everything is removed on drop.
//!
//! The addresses are 10.213.B.n/24 with B picked at random per network: private addresses of
//! hosts that exist only inside this test. The bridge holds .254, so the test reaches every
//! agent's HTTP port even while the agents cannot reach each other.

use std::net::Ipv4Addr;
use std::process::Command;

fn run(args: &[&str]) -> Result<(), String> {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|error| format!("{}: {error}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

pub struct Network {
    tag: String,
    subnet: u8,
    hosts: usize,
}

impl Network {
    /// Creates `hosts` namespaces on one bridge, or says why it cannot (not root, no
    /// `ip`/`nft`, namespaces forbidden): the caller skips with that message.
    pub fn create(hosts: usize) -> Result<Network, String> {
        let seed = std::process::id()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos();
        let network = Network {
            tag: format!("{:04x}", seed & 0xffff),
            subnet: 1 + (seed % 250) as u8,
            hosts: 0,
        };
        Command::new("nft").arg("--version").output().map_err(|_| {
            "nft is not installed (Debian nftables; .ci/run installs it)".to_owned()
        })?;
        let mut network = network;
        run(&["ip", "link", "add", &network.bridge(), "type", "bridge"])?;
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", network.gateway()),
            "dev",
            &network.bridge(),
        ])?;
        run(&["ip", "link", "set", &network.bridge(), "up"])?;
        for host in 1..=hosts {
            let ns = network.namespace(host);
            let (outside, inside) = (
                format!("lg{}v{host}", network.tag),
                format!("lg{}p{host}", network.tag),
            );
            run(&["ip", "netns", "add", &ns])?;
            network.hosts = host;
            run(&[
                "ip", "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ])?;
            run(&["ip", "link", "set", &inside, "netns", &ns])?;
            run(&["ip", "link", "set", &outside, "master", &network.bridge()])?;
            run(&["ip", "link", "set", &outside, "up"])?;
            run(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
            run(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("{}/24", network.address(host)),
                "dev",
                &inside,
            ])?;
            run(&[
                "ip", "netns", "exec", &ns, "ip", "link", "set", &inside, "up",
            ])?;
        }
        Ok(network)
    }

    fn bridge(&self) -> String {
        format!("lg{}br", self.tag)
    }

    pub fn namespace(&self, host: usize) -> String {
        format!("lg{}n{host}", self.tag)
    }

    pub fn address(&self, host: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.subnet, host as u8)
    }

    fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.subnet, 254)
    }

    /// Cuts `host` off from `others` both ways (the test's own address stays reachable).
    pub fn partition(&self, host: usize, others: &[usize]) {
        let ns = self.namespace(host);
        let peers: Vec<String> = others
            .iter()
            .map(|other| self.address(*other).to_string())
            .collect();
        let set = format!("{{ {} }}", peers.join(", "));
        let script = format!(
            "table inet lgpart {{\n chain input {{ type filter hook input priority 0; ip saddr {set} drop; }}\n chain output {{ type filter hook output priority 0; ip daddr {set} drop; }}\n}}\n"
        );
        let path = std::env::temp_dir().join(format!("{ns}.nft"));
        std::fs::write(&path, script).unwrap();
        run(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "nft",
            "-f",
            path.to_str().unwrap(),
        ])
        .expect("partition");
    }

    /// Removes `host`'s partition rules.
    pub fn heal(&self, host: usize) {
        let ns = self.namespace(host);
        run(&[
            "ip", "netns", "exec", &ns, "nft", "delete", "table", "inet", "lgpart",
        ])
        .expect("heal");
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for host in 1..=self.hosts {
            // Deleting the namespace deletes the veth pair with it.
            let _ = run(&["ip", "netns", "del", &self.namespace(host)]);
        }
        let _ = run(&["ip", "link", "del", &self.bridge()]);
    }
}
