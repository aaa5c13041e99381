//! The admin view of the binding cache: the control core keeps a copy of the reflector's
//! cache in a concurrent map that `/bindings` reads from another thread. A leaf module.

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;
use std::time::Instant;

/// One binding as the admin view shows it.
#[derive(Clone, Debug)]
pub struct BindingEntry {
    pub home: Ipv6Addr,
    pub care_of: Ipv6Addr,
    pub attached: Ipv6Addr,
    pub node: String,
    pub expires: Instant,
    pub seq: u16,
    pub agent: bool,
    pub refreshed: u32,
}

/// The control core's copy of the binding cache for readers on other threads, keyed by
/// (home address, attached-node address).
pub type BindingsView = DashMap<(Ipv6Addr, Ipv6Addr), BindingEntry>;

/// `/bindings` JSON row.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct BindingJson {
    pub home_address: Ipv6Addr,
    pub care_of_address: Ipv6Addr,
    pub attached_address: Ipv6Addr,
    pub attached_node: String,
    pub lifetime_left_s: u64,
    pub sequence: u16,
    pub agent: bool,
    pub refreshed: u32,
}

/// The view as JSON rows at `now`, sorted by attached node then home address.
pub fn rows(view: &BindingsView, now: Instant) -> Vec<BindingJson> {
    let mut rows: Vec<BindingJson> = view
        .iter()
        .map(|e| BindingJson {
            home_address: e.home,
            care_of_address: e.care_of,
            attached_address: e.attached,
            attached_node: e.node.clone(),
            lifetime_left_s: e.expires.saturating_duration_since(now).as_secs(),
            sequence: e.seq,
            agent: e.agent,
            refreshed: e.refreshed,
        })
        .collect();
    rows.sort_by_key(|r| (r.attached_address, r.home_address));
    rows
}
