//! Configuration reload (SIGHUP): what can change without a restart. A node removed from the
//! configuration is detached, and a node whose agent is turned off keeps its traffic but no
//! longer has the agent; either way its bindings are purged (draft §4.1.3: the cache only
//! holds bindings for attached nodes). Everything else needs a restart and is said so.
//! A configuration that does not validate is refused whole: nothing already running changes.

use crate::config::Config;
use dataplane::forward::Topology;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use tracing::{info, warn};

/// Applies `cfg` to the attached nodes' flags where it can (`running` is the configuration
/// the dataplane started with) and returns the nodes whose bindings must be purged.
pub fn apply(topo: &Topology, running: &Config, cfg: &Config) -> Vec<u32> {
    let wanted: HashMap<&str, &crate::config::Node> = cfg.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut purge = Vec::new();
    for (i, node) in topo.attached.nodes().iter().enumerate() {
        let attached = node.attached.load(Relaxed);
        match wanted.get(node.name.as_str()) {
            None if attached => {
                node.agent.store(false, Relaxed);
                node.attached.store(false, Relaxed);
                info!("node {} detached (no longer in the configuration)", node.name);
                purge.push(i as u32);
            }
            None => {}
            Some(_) if !attached => warn!("node {} was detached; attaching it again needs a restart", node.name),
            Some(n) => {
                let before = running.nodes.iter().find(|o| o.name == n.name);
                if before.is_some_and(|o| o.prefixes != n.prefixes || o.addresses != n.addresses || o.lma != n.lma || o.mac != n.mac) {
                    warn!("node {}: prefix, address, LMA or MAC changes need a restart; kept as running", n.name);
                }
                if n.agent != node.agent() {
                    node.agent.store(n.agent, Relaxed);
                    info!("node {}: route optimization agent {}", node.name, if n.agent { "on" } else { "off" });
                    if !n.agent {
                        purge.push(i as u32);
                    }
                }
            }
        }
    }
    for n in &cfg.nodes {
        if !topo.attached.nodes().iter().any(|a| a.name == n.name) {
            warn!("node {} is new: adding nodes needs a restart", n.name);
        }
    }
    info!("configuration reloaded (node agent flags and detachments apply now; other changes at the next start)");
    purge
}

#[cfg(test)]
mod tests {
    use super::apply;
    use crate::config::Config;
    use crate::testing::{ACCESS_MAC, CORE_MAC, TUNNEL};

    const TWO: &str = "[[node]]\nname = \"mn3\"\nprefixes = [\"2001:db8:4::/64\"]\n";

    fn parse(text: &str) -> Config {
        Config::parse(text, "test").unwrap()
    }

    #[test]
    fn a_removed_node_is_detached_and_purged() {
        let running = parse(&format!("{TUNNEL}{TWO}"));
        let topo = crate::topology::build(&running, ACCESS_MAC, CORE_MAC);
        assert_eq!(apply(&topo, &running, &parse(TUNNEL)), [1]);
        let mn3 = &topo.attached.nodes()[1];
        assert!(!mn3.attached.load(std::sync::atomic::Ordering::Relaxed));
        assert_eq!(topo.attached.lookup(&"2001:db8:4::1".parse::<std::net::Ipv6Addr>().unwrap().octets()), None);
        // Removing it again changes nothing.
        assert!(apply(&topo, &running, &parse(TUNNEL)).is_empty());
    }

    #[test]
    fn turning_the_agent_off_purges_and_on_does_not() {
        let running = parse(TUNNEL);
        let topo = crate::topology::build(&running, ACCESS_MAC, CORE_MAC);
        let off = parse(&TUNNEL.replace("name = \"mn2\"", "name = \"mn2\"\nagent = false"));
        assert_eq!(apply(&topo, &running, &off), [0]);
        assert!(!topo.attached.nodes()[0].agent());
        assert!(apply(&topo, &running, &running).is_empty());
        assert!(topo.attached.nodes()[0].agent());
    }

    #[test]
    fn other_changes_are_kept_as_running() {
        let running = parse(TUNNEL);
        let topo = crate::topology::build(&running, ACCESS_MAC, CORE_MAC);
        let moved = parse(&TUNNEL.replace("2001:db8:3::/64", "2001:db8:5::/64"));
        assert!(apply(&topo, &running, &moved).is_empty());
        assert!(topo.attached.lookup(&"2001:db8:3::1".parse::<std::net::Ipv6Addr>().unwrap().octets()).is_some());
    }
}
