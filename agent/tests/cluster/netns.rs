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
        for _ in 0..hosts {
            network.add_host()?;
        }
        Ok(network)
    }

    /// One more host: its namespace, a veth pair to the bridge and the next address.
    /// Returns its number (1, 2, ...).
    pub fn add_host(&mut self) -> Result<usize, String> {
        let host = self.hosts + 1;
        let ns = self.namespace(host);
        let (outside, inside) = (
            format!("lg{}v{host}", self.tag),
            format!("lg{}p{host}", self.tag),
        );
        run(&["ip", "netns", "add", &ns])?;
        self.hosts = host;
        run(&[
            "ip", "link", "add", &outside, "type", "veth", "peer", "name", &inside,
        ])?;
        run(&["ip", "link", "set", &inside, "netns", &ns])?;
        run(&["ip", "link", "set", &outside, "master", &self.bridge()])?;
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
            &format!("{}/24", self.address(host)),
            "dev",
            &inside,
        ])?;
        run(&[
            "ip", "netns", "exec", &ns, "ip", "link", "set", &inside, "up",
        ])?;
        Ok(host)
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

impl Network {
    /// Cuts each pair of host groups apart, both ways: every host drops what comes from, and
    /// what goes to, the hosts on the other side of any pair it is in. Undone by `heal_all`.
    pub fn cut(&self, pairs: &[(Vec<usize>, Vec<usize>)]) {
        let mut apart: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (one, other) in pairs {
            for host in one {
                apart.entry(*host).or_default().extend(other);
            }
            for host in other {
                apart.entry(*host).or_default().extend(one);
            }
        }
        for (host, others) in apart {
            self.partition(host, &others);
        }
    }

    /// Removes every host's partition rules (hosts without any are skipped).
    pub fn heal_all(&self) {
        for host in 1..=self.hosts {
            let _ = run(&[
                "ip",
                "netns",
                "exec",
                &self.namespace(host),
                "nft",
                "delete",
                "table",
                "inet",
                "lgpart",
            ]);
        }
    }

    /// How to start `program` inside `host`'s namespace.
    pub fn command(&self, host: usize, program: &str) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace(host)])
            .arg(program);
        command
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
