//! The admin view of the mobile nodes (PMIPv6): the control core keeps one row per policy
//! node that has been heard from, in a concurrent map that `/mobiles` reads from another
//! thread. A leaf module.

use crate::bindings_view::BindingsView;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Instant;
use wire::ethernet::MacAddr;

#[derive(Clone, Debug)]
pub struct MobileRow {
    pub mn_id: String,
    pub mac: MacAddr,
    pub hnp: Option<(Ipv6Addr, u8)>,
    pub lma: Ipv6Addr,
    pub state: &'static str,
    pub expires: Option<Instant>,
    pub agent: bool,
}

pub type MobilesView = DashMap<MacAddr, MobileRow>;

/// `/mobiles` JSON row.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct MobileJson {
    pub mn_id: String,
    pub mac: String,
    pub home_network_prefix: Option<String>,
    pub lma: Ipv6Addr,
    pub state: String,
    pub lifetime_left_s: Option<u64>,
    pub agent: bool,
    /// Route Optimization bindings whose attached address is in the node's prefix.
    pub ro_bindings: usize,
}

/// The view as JSON rows at `now`, sorted by MN identifier, with each node's count of RO
/// bindings from `bindings`.
pub fn rows(view: &MobilesView, bindings: &BindingsView, now: Instant) -> Vec<MobileJson> {
    let mut per_prefix: HashMap<u64, usize> = HashMap::new();
    for b in bindings.iter() {
        *per_prefix.entry((u128::from(b.attached) >> 64) as u64).or_default() += 1;
    }
    let mut rows: Vec<MobileJson> = view
        .iter()
        .map(|r| MobileJson {
            mn_id: r.mn_id.clone(),
            mac: wire::ethernet::fmt_mac(&r.mac),
            home_network_prefix: r.hnp.map(|(p, l)| format!("{p}/{l}")),
            lma: r.lma,
            state: r.state.to_string(),
            lifetime_left_s: r.expires.map(|e| e.saturating_duration_since(now).as_secs()),
            agent: r.agent,
            ro_bindings: r.hnp.map_or(0, |(p, _)| per_prefix.get(&((u128::from(p) >> 64) as u64)).copied().unwrap_or(0)),
        })
        .collect();
    rows.sort_by(|a, b| a.mn_id.cmp(&b.mn_id));
    rows
}
