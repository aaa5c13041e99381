//! IPv6 address classes (RFC 4291 §2.4), defined once for the worker, the control core,
//! the reflector and the configuration. Each comes as a function of `&Ipv6Addr` and of the
//! address as a big-endian `u128` (the worker's form: compared and hashed without copies);
//! the `Ipv6Addr` form is the `u128` one, so the two cannot disagree.

use core::net::Ipv6Addr;

/// The unspecified address `::` (RFC 4291 §2.5.2).
const UNSPECIFIED: u128 = 0;
/// The loopback address `::1` (RFC 4291 §2.5.3).
const LOOPBACK: u128 = 1;

/// Multicast, ff00::/8 (RFC 4291 §2.7).
#[inline(always)]
pub const fn is_multicast_u128(a: u128) -> bool {
    a >> 120 == 0xff
}

/// Link-local unicast, fe80::/10 (RFC 4291 §2.5.6).
#[inline(always)]
pub const fn is_link_local_u128(a: u128) -> bool {
    a >> 118 == 0xfe80 >> 6
}

/// Unicast routable: not unspecified, loopback, multicast or link-local. RFC 6275 §9.5.1
/// requires it of home and care-of addresses (§9.3.1 of the Home Address option's), and
/// RFC 5213 §6.10.5 forwards nothing else off-link.
#[inline(always)]
pub const fn is_routable_unicast_u128(a: u128) -> bool {
    !(a == UNSPECIFIED || a == LOOPBACK || is_multicast_u128(a) || is_link_local_u128(a))
}

/// Multicast, ff00::/8 (RFC 4291 §2.7).
#[inline(always)]
pub const fn is_multicast(a: &Ipv6Addr) -> bool {
    is_multicast_u128(a.to_bits())
}

/// Link-local unicast, fe80::/10 (RFC 4291 §2.5.6).
#[inline(always)]
pub const fn is_link_local(a: &Ipv6Addr) -> bool {
    is_link_local_u128(a.to_bits())
}

/// Unicast routable (see [`is_routable_unicast_u128`]).
#[inline(always)]
pub const fn is_routable_unicast(a: &Ipv6Addr) -> bool {
    is_routable_unicast_u128(a.to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn classes_at_their_prefix_edges() {
        for (s, mc, ll, routable) in [
            ("::", false, false, false),
            ("::1", false, false, false),
            ("::2", false, false, true),
            ("2001:db8::1", false, false, true),
            ("fe7f:ffff::1", false, false, true),
            ("fe80::1", false, true, false),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, true, false),
            ("fec0::1", false, false, true),
            ("feff::1", false, false, true),
            ("ff00::", true, false, false),
            ("ff02::1", true, false, false),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, false, false),
        ] {
            let x = a(s);
            assert_eq!((is_multicast(&x), is_link_local(&x), is_routable_unicast(&x)), (mc, ll, routable), "{s}");
            let n = u128::from(x);
            assert_eq!((is_multicast_u128(n), is_link_local_u128(n), is_routable_unicast_u128(n)), (mc, ll, routable), "{s}");
        }
    }

    /// The same answers as the standard library's classifiers, which name the RFC 4291 ranges.
    #[test]
    fn agrees_with_std() {
        for s in ["::", "::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "ff0e::1", "2001:db8::1", "fd00::1", "::ffff:10.0.0.1"] {
            let x = a(s);
            assert_eq!(is_multicast(&x), x.is_multicast(), "{s}");
            assert_eq!(is_link_local(&x), x.is_unicast_link_local(), "{s}");
            assert_eq!(is_routable_unicast(&x), !(x.is_unspecified() || x.is_loopback() || x.is_multicast() || x.is_unicast_link_local()), "{s}");
        }
    }
}
