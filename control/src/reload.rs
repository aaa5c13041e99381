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
