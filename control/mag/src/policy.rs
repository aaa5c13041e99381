//! The mobile node's policy profile (RFC 5213 §6.2): who may attach, and where it is anchored.

use core::net::Ipv6Addr;
use std::sync::Arc;

use wire::ethernet::MacAddr;

/// A Home Network Prefix: address and length.
pub type Prefix = (Ipv6Addr, u8);

/// One mobile node's policy profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The link-layer address it attaches with: the store's key.
    pub mac: MacAddr,
    /// Its MN Identifier, an NAI (RFC 4283), as sent in the MN Identifier option.
    pub mn_id: Arc<[u8]>,
    /// Its LMA.
    pub lma: Ipv6Addr,
    /// Route Optimization Agent on for it (carried for the caller, in `Install`).
    pub agent: bool,
    /// A prefix for labs: asked for in the PBU instead of `::/0`, and the only one a PBA
    /// may assign; its length is the one accepted (64 otherwise).
    pub static_hnp: Option<Prefix>,
}

/// Why `set_policy` refused a profile. Nothing changes when it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyError {
    /// Empty, or longer than the MN Identifier option can carry (254 bytes after the subtype).
    BadMnId,
    /// Another MAC's policy (or its binding still being deregistered) has this MN-ID.
    DuplicateMnId,
    /// The LMA is not a unicast routable address.
    BadLma,
    /// The static prefix is link-local, multicast, unspecified, loopback, of length 0 or
    /// above 128, or has bits set past its length.
    BadStaticPrefix,
}

impl PolicyError {
    pub fn name(self) -> &'static str {
        match self {
            PolicyError::BadMnId => "bad_mn_id",
            PolicyError::DuplicateMnId => "duplicate_mn_id",
            PolicyError::BadLma => "bad_lma",
            PolicyError::BadStaticPrefix => "bad_static_prefix",
        }
    }
}

impl core::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Addresses no prefix or anchor may be: not unicast routable.
pub(crate) fn is_unroutable(a: &Ipv6Addr) -> bool {
    a.is_unspecified() || a.is_multicast() || a.is_loopback() || a.is_unicast_link_local()
}

/// `addr` with every bit past `len` cleared.
pub(crate) fn masked(addr: &Ipv6Addr, len: u8) -> Ipv6Addr {
    let bits = u128::from(*addr);
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len.min(128))) };
    Ipv6Addr::from(bits & mask)
}

impl Policy {
    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
        if self.mn_id.is_empty() || self.mn_id.len() > 254 {
            return Err(PolicyError::BadMnId);
        }
        if is_unroutable(&self.lma) {
            return Err(PolicyError::BadLma);
        }
        if let Some((addr, len)) = self.static_hnp {
            if len == 0 || len > 128 || is_unroutable(&addr) || masked(&addr, len) != addr {
                return Err(PolicyError::BadStaticPrefix);
            }
        }
        Ok(())
    }
}
