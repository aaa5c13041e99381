//! Neighbor Discovery (RFC 4861): parsing the messages the MAG answers on the access link
//! (RS, NS, NA) with their validity checks, and building NA, NS and RA.

use core::net::Ipv6Addr;

use crate::addr;
use crate::checksum;
use crate::ethernet::MacAddr;
use crate::ext;
use crate::icmpv6::{self, Message, NA, NS, RA, RS};
use crate::ipv6::{self, get_addr, get_u8, proto, Header, HEADER_LEN};
use crate::{Error, Result};

/// Hop limit of every ND message (RFC 4861 §6.1.1, §7.1.1, §7.1.2).
pub const HOP_LIMIT: u8 = 255;

/// Option types (RFC 4861 §4.6).
pub mod option {
    pub const SOURCE_LL: u8 = 1;
    pub const TARGET_LL: u8 = 2;
    pub const PREFIX_INFO: u8 = 3;
    pub const MTU: u8 = 5;
}

/// RFC 4861 §6.2.1 defaults (AdvValidLifetime 30 days, AdvPreferredLifetime 7 days).
pub const DEFAULT_VALID_LIFETIME: u32 = 2_592_000;
pub const DEFAULT_PREFERRED_LIFETIME: u32 = 604_800;
/// Cur Hop Limit advertised in RAs (RFC 4861 §6.2.1 suggests the Assigned Numbers value).
pub const ADV_CUR_HOP_LIMIT: u8 = 64;

const LAYER: &str = "nd";

/// True for the ICMPv6 types of Neighbor Discovery, Router Solicitation (133) through
/// Redirect (137) (RFC 4861 §4). Nothing may add a routing header to them (RFC 6275
/// §9.3.2) and the worker hands them to the control core.
#[inline(always)]
pub const fn is_nd_type(icmp_type: u8) -> bool {
    matches!(icmp_type, RS..=icmpv6::REDIRECT)
}

// Router Solicitation (§4.1):       | Type=133 | Code | Checksum | Reserved(32) | Options...
// Router Advertisement (§4.2):      | Type=134 | Code | Checksum | Cur Hop Limit |M|O| Rsvd |
//                                   | Router Lifetime(16) | Reachable Time(32) | Retrans Timer(32) | Options...
// Neighbor Solicitation (§4.3):     | Type=135 | Code | Checksum | Reserved(32) | Target(128) | Options...
// Neighbor Advertisement (§4.4):    | Type=136 | Code | Checksum |R|S|O| Reserved(29) | Target(128) | Options...
// Option (§4.6):                    | Type | Length (units of 8 bytes, 0 invalid) | ...
// Link-layer address (§4.6.1):      | Type=1/2 | Length=1 | MAC(48) |
// Prefix Information (§4.6.2):      | Type=3 | Length=4 | Prefix Length |L|A| Rsvd1 |
//                                   | Valid Lifetime(32) | Preferred Lifetime(32) | Reserved2(32) | Prefix(128) |
// MTU (§4.6.4):                     | Type=5 | Length=1 | Reserved(16) | MTU(32) |
mod field {
    pub const FLAGS: usize = 4;
    pub const TARGET: usize = 8;
    pub const RS_OPTIONS: usize = 8;
    pub const NS_NA_OPTIONS: usize = 24;
    pub const RA_OPTIONS: usize = 16;
    pub const NA_ROUTER: u8 = 0x80;
    pub const NA_SOLICITED: u8 = 0x40;
    pub const NA_OVERRIDE: u8 = 0x20;
    pub const PI_ON_LINK: u8 = 0x80;
    pub const PI_AUTONOMOUS: u8 = 0x40;
}

const LL_OPT_LEN: usize = 8;
const PREFIX_OPT_LEN: usize = 32;
const MTU_OPT_LEN: usize = 8;

/// A validated ND message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nd {
    RouterSolicit { source_ll: Option<MacAddr> },
    NeighborSolicit { target: Ipv6Addr, source_ll: Option<MacAddr> },
    NeighborAdvert { target: Ipv6Addr, router: bool, solicited: bool, override_: bool, target_ll: Option<MacAddr> },
}

fn malformed(what: &'static str) -> Error {
    Error::Malformed { layer: LAYER, what }
}

/// Parses an IPv6 packet (no link header) as RS, NS or NA. `Ok(None)` when it is not one of
/// those (not ICMPv6, another ICMPv6 type, a later fragment); `Err` when it is one but fails
/// the validity checks of RFC 4861 §6.1.1 (RS), §7.1.1 (NS), §7.1.2 (NA).
pub fn parse(ipv6_packet: &[u8]) -> Result<Option<Nd>> {
    let chain = ext::walk(ipv6_packet)?;
    if chain.upper_proto != proto::ICMPV6 || chain.is_non_first_fragment() {
        return Ok(None);
    }
    let h = Header::new_checked(ipv6_packet)?;
    let msg_bytes = ipv6_packet.get(chain.upper_offset..h.total_len()).unwrap_or(&[]);
    let Some(&msg_type) = msg_bytes.first() else { return Ok(None) };
    let min_len = match msg_type {
        RS => field::RS_OPTIONS,
        NS | NA => field::NS_NA_OPTIONS,
        _ => return Ok(None),
    };
    // RFC 6980 §5: fragmented ND messages are dropped.
    if chain.fragment.is_some() {
        return Err(malformed("fragmented neighbor discovery"));
    }
    if h.hop_limit() != HOP_LIMIT {
        return Err(malformed("hop limit not 255"));
    }
    let msg = Message::new_checked(msg_bytes)?;
    if msg.code() != 0 {
        return Err(malformed("code not 0"));
    }
    if msg_bytes.len() < min_len {
        return Err(Error::Truncated { layer: LAYER, required: min_len, len: msg_bytes.len() });
    }
    let (src, dst) = (h.src_addr(), h.dst_addr());
    let (ps, pd) = chain.pseudo_header_addrs(&src, &dst);
    if !checksum::verify_upper_layer(&ps, &pd, proto::ICMPV6, msg_bytes) {
        return Err(Error::Checksum { layer: LAYER });
    }
    let options = msg_bytes.get(min_len..).unwrap_or(&[]);
    match msg_type {
        RS => {
            let source_ll = link_layer_option(options, option::SOURCE_LL)?;
            // §6.1.1: no SLLA from the unspecified address.
            if src.is_unspecified() && source_ll.is_some() {
                return Err(malformed("source link-layer option from unspecified address"));
            }
            Ok(Some(Nd::RouterSolicit { source_ll }))
        }
        NS => {
            let target = get_addr(msg_bytes, field::TARGET).unwrap_or(Ipv6Addr::UNSPECIFIED);
            if addr::is_multicast(&target) {
                return Err(malformed("target is multicast"));
            }
            let source_ll = link_layer_option(options, option::SOURCE_LL)?;
            // §7.1.1: from the unspecified address (DAD) only to a solicited-node address
            // and without SLLA.
            if src.is_unspecified() {
                if !ipv6::is_solicited_node(&dst) {
                    return Err(malformed("DAD solicitation not to solicited-node address"));
                }
                if source_ll.is_some() {
                    return Err(malformed("source link-layer option from unspecified address"));
                }
            }
            Ok(Some(Nd::NeighborSolicit { target, source_ll }))
        }
        _ => {
            let target = get_addr(msg_bytes, field::TARGET).unwrap_or(Ipv6Addr::UNSPECIFIED);
            if addr::is_multicast(&target) {
                return Err(malformed("target is multicast"));
            }
            let flags = get_u8(msg_bytes, field::FLAGS).unwrap_or(0);
            let solicited = flags & field::NA_SOLICITED != 0;
            // §7.1.2: a solicited advertisement is unicast.
            if solicited && addr::is_multicast(&dst) {
                return Err(malformed("solicited advertisement to multicast"));
            }
            Ok(Some(Nd::NeighborAdvert {
                target,
                router: flags & field::NA_ROUTER != 0,
                solicited,
                override_: flags & field::NA_OVERRIDE != 0,
                target_ll: link_layer_option(options, option::TARGET_LL)?,
            }))
        }
    }
}

/// Walks the options (every one must have a non-zero length and fit, §4.6) and returns the
/// first link-layer address option of type `wanted` that holds an Ethernet address.
fn link_layer_option(mut options: &[u8], wanted: u8) -> Result<Option<MacAddr>> {
    let mut found = None;
    while let [t, l, ..] = *options {
        if l == 0 {
            return Err(malformed("option length 0"));
        }
        let len = usize::from(l) * 8;
        let Some(opt) = options.get(..len) else {
            return Err(malformed("option overruns message"));
        };
        if t == wanted && found.is_none() {
            // Ethernet: length 1, six address bytes (RFC 2464 §8). Other sizes belong to
            // other link types; ignore them.
            if let (1, Some(m)) = (l, opt.get(2..8)) {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(m);
                found = Some(mac);
            }
        }
        options = options.get(len..).unwrap_or(&[]);
    }
    if !options.is_empty() {
        return Err(malformed("option overruns message"));
    }
    Ok(found)
}

fn write_ll_option(buf: &mut [u8], opt_type: u8, mac: &MacAddr) {
    if let Some(o) = buf.get_mut(..LL_OPT_LEN) {
        o[0] = opt_type;
        o[1] = 1;
        o[2..8].copy_from_slice(mac);
    }
}

/// The ICMPv6 area `out[40..40 + icmp_len]`, zeroed, or `NoRoom`.
fn icmp_area(out: &mut [u8], icmp_len: usize) -> Result<&mut [u8]> {
    let len = out.len();
    let total = HEADER_LEN + icmp_len;
    let area = out.get_mut(HEADER_LEN..total).ok_or(Error::NoRoom { layer: LAYER, required: total, len })?;
    area.fill(0);
    Ok(area)
}

/// Writes a Neighbor Advertisement for `target` with a Target Link-Layer Address option
/// (RFC 4861 §4.4, §7.2.4) as a whole IPv6 packet and returns its length.
#[allow(clippy::too_many_arguments)]
pub fn build_neighbor_advert(
    out: &mut [u8],
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    target: &Ipv6Addr,
    mac: &MacAddr,
    router: bool,
    solicited: bool,
    override_: bool,
) -> Result<usize> {
    let icmp_len = field::NS_NA_OPTIONS + LL_OPT_LEN;
    let m = icmp_area(out, icmp_len)?;
    m[0] = NA;
    m[field::FLAGS] =
        if router { field::NA_ROUTER } else { 0 } | if solicited { field::NA_SOLICITED } else { 0 } | if override_ { field::NA_OVERRIDE } else { 0 };
    m[field::TARGET..field::TARGET + 16].copy_from_slice(&target.octets());
    write_ll_option(&mut m[field::NS_NA_OPTIONS..], option::TARGET_LL, mac);
    icmpv6::finish(out, src, dst, HOP_LIMIT, icmp_len)
}

/// Writes a Neighbor Solicitation for `target` to its solicited-node address (RFC 4861
/// §7.2.2) with a Source Link-Layer Address option, omitted when `src` is unspecified
/// (duplicate address detection, §4.3).
pub fn build_neighbor_solicit(out: &mut [u8], src: &Ipv6Addr, target: &Ipv6Addr, mac: &MacAddr) -> Result<usize> {
    let slla = !src.is_unspecified();
    let icmp_len = field::NS_NA_OPTIONS + if slla { LL_OPT_LEN } else { 0 };
    let m = icmp_area(out, icmp_len)?;
    m[0] = NS;
    m[field::TARGET..field::TARGET + 16].copy_from_slice(&target.octets());
    if slla {
        write_ll_option(&mut m[field::NS_NA_OPTIONS..], option::SOURCE_LL, mac);
    }
    icmpv6::finish(out, src, &ipv6::solicited_node(target), HOP_LIMIT, icmp_len)
}

/// Writes a Router Advertisement (RFC 4861 §4.2) from the link-local `src_link_local` with a
/// Source Link-Layer Address option, an MTU option if given, and one Prefix Information
/// option (L=1, A=1, default lifetimes) per prefix.
pub fn build_router_advert(
    out: &mut [u8],
    src_link_local: &Ipv6Addr,
    dst: &Ipv6Addr,
    mac: &MacAddr,
    prefixes: &[(Ipv6Addr, u8)],
    router_lifetime_s: u16,
    mtu: Option<u32>,
) -> Result<usize> {
    build_router_advert_with_lifetimes(out, src_link_local, dst, mac, prefixes, router_lifetime_s, mtu, DEFAULT_VALID_LIFETIME, DEFAULT_PREFERRED_LIFETIME)
}

/// [`build_router_advert`] with explicit prefix lifetimes in seconds (`u32::MAX` = infinity).
#[allow(clippy::too_many_arguments)]
pub fn build_router_advert_with_lifetimes(
    out: &mut [u8],
    src_link_local: &Ipv6Addr,
    dst: &Ipv6Addr,
    mac: &MacAddr,
    prefixes: &[(Ipv6Addr, u8)],
    router_lifetime_s: u16,
    mtu: Option<u32>,
    valid_lifetime_s: u32,
    preferred_lifetime_s: u32,
) -> Result<usize> {
    // §6.1.2: hosts drop RAs whose source is not link-local.
    if !addr::is_link_local(src_link_local) {
        return Err(malformed("router advertisement source not link-local"));
    }
    // §4.6.2: the preferred lifetime must not exceed the valid lifetime.
    if preferred_lifetime_s > valid_lifetime_s {
        return Err(malformed("preferred lifetime exceeds valid lifetime"));
    }
    if prefixes.iter().any(|(_, len)| *len > 128) {
        return Err(malformed("prefix length over 128"));
    }
    let icmp_len = prefixes
        .len()
        .checked_mul(PREFIX_OPT_LEN)
        .and_then(|p| p.checked_add(field::RA_OPTIONS + LL_OPT_LEN))
        .and_then(|n| n.checked_add(if mtu.is_some() { MTU_OPT_LEN } else { 0 }))
        .filter(|n| *n <= usize::from(u16::MAX))
        .ok_or(malformed("too many prefixes"))?;
    let m = icmp_area(out, icmp_len)?;
    m[0] = RA;
    m[4] = ADV_CUR_HOP_LIMIT;
    m[5] = 0; // M=0, O=0: addresses by SLAAC from the prefixes.
    m[6..8].copy_from_slice(&router_lifetime_s.to_be_bytes());
    // Reachable Time and Retrans Timer 0: unspecified.
    let mut at = field::RA_OPTIONS;
    write_ll_option(&mut m[at..], option::SOURCE_LL, mac);
    at += LL_OPT_LEN;
    if let Some(mtu) = mtu {
        let o = &mut m[at..at + MTU_OPT_LEN];
        o[0] = option::MTU;
        o[1] = 1;
        o[4..8].copy_from_slice(&mtu.to_be_bytes());
        at += MTU_OPT_LEN;
    }
    for (prefix, len) in prefixes {
        let o = &mut m[at..at + PREFIX_OPT_LEN];
        o[0] = option::PREFIX_INFO;
        o[1] = 4;
        o[2] = *len;
        o[3] = field::PI_ON_LINK | field::PI_AUTONOMOUS;
        o[4..8].copy_from_slice(&valid_lifetime_s.to_be_bytes());
        o[8..12].copy_from_slice(&preferred_lifetime_s.to_be_bytes());
        o[16..32].copy_from_slice(&ipv6::mask(prefix, *len).octets());
        at += PREFIX_OPT_LEN;
    }
    icmpv6::finish(out, src_link_local, dst, HOP_LIMIT, icmp_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext::tests::{frag_bytes, opts_header, packet};
    use crate::ipv6::tests::a;

    const MAC: MacAddr = [0x02, 0, 0, 0, 0, 0x0a];

    fn mn2() -> Ipv6Addr {
        a("2001:db8:3::300")
    }
    fn ll() -> Ipv6Addr {
        a("fe80::1")
    }

    /// An ICMPv6 packet with hop limit 255 and a correct checksum.
    fn icmp(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> Vec<u8> {
        let mut p = packet(src, dst, proto::ICMPV6, msg);
        p[7] = 255;
        if p.len() >= 44 {
            let c = checksum::upper_layer(src, dst, proto::ICMPV6, &p[40..]);
            p[42..44].copy_from_slice(&c.to_be_bytes());
        }
        p
    }

    fn ns_msg(target: &Ipv6Addr, slla: Option<MacAddr>) -> Vec<u8> {
        let mut m = vec![NS, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&target.octets());
        if let Some(mac) = slla {
            m.extend_from_slice(&[1, 1]);
            m.extend_from_slice(&mac);
        }
        m
    }

    #[test]
    fn nd_types_are_133_to_137() {
        let nd: Vec<u8> = (0..=255).filter(|t| is_nd_type(*t)).collect();
        assert_eq!(nd, [RS, RA, NS, NA, icmpv6::REDIRECT]);
        assert_eq!(nd, [133, 134, 135, 136, 137]);
    }

    #[test]
    fn neighbor_solicit_fixture() {
        // From Linux: NS fe80::2 -> ff02::1:ff00:300 for 2001:db8:3::300 with SLLA.
        let p = icmp(&a("fe80::2"), &a("ff02::1:ff00:300"), &ns_msg(&mn2(), Some([2, 0, 0, 0, 0, 2])));
        assert_eq!(parse(&p), Ok(Some(Nd::NeighborSolicit { target: mn2(), source_ll: Some([2, 0, 0, 0, 0, 2]) })));
        for n in 0..p.len() {
            assert!(parse(&p[..n]).is_err(), "len {n}");
        }
    }

    #[test]
    fn build_then_parse_round_trips() {
        let mut out = [0u8; 512];
        let n = build_neighbor_solicit(&mut out, &ll(), &mn2(), &MAC).unwrap();
        assert_eq!(n, 72);
        let h = Header::new_checked(&out[..n]).unwrap();
        assert_eq!((h.dst_addr(), h.hop_limit()), (a("ff02::1:ff00:300"), 255));
        assert_eq!(parse(&out[..n]), Ok(Some(Nd::NeighborSolicit { target: mn2(), source_ll: Some(MAC) })));

        // DAD: no SLLA.
        let n = build_neighbor_solicit(&mut out, &a("::"), &mn2(), &MAC).unwrap();
        assert_eq!(n, 64);
        assert_eq!(parse(&out[..n]), Ok(Some(Nd::NeighborSolicit { target: mn2(), source_ll: None })));

        let n = build_neighbor_advert(&mut out, &ll(), &a("fe80::2"), &mn2(), &MAC, true, true, false).unwrap();
        assert_eq!(n, 72);
        assert_eq!(out[44], 0xc0);
        assert_eq!(parse(&out[..n]), Ok(Some(Nd::NeighborAdvert { target: mn2(), router: true, solicited: true, override_: false, target_ll: Some(MAC) })));
        assert!(build_neighbor_advert(&mut out[..71], &ll(), &ll(), &mn2(), &MAC, false, false, true).is_err());
    }

    #[test]
    fn router_advert_layout() {
        let mut out = [0u8; 512];
        let prefixes = [(a("2001:db8:3::1"), 64), (a("2001:db8:4::"), 64)];
        let n = build_router_advert(&mut out, &ll(), &ipv6::ALL_NODES, &MAC, &prefixes, 1800, Some(1500)).unwrap();
        assert_eq!(n, 40 + 16 + 8 + 8 + 64);
        let h = Header::new_checked(&out[..n]).unwrap();
        assert_eq!((h.hop_limit(), h.src_addr(), h.dst_addr()), (255, ll(), ipv6::ALL_NODES));
        let m = &out[40..n];
        assert_eq!(m[..8], [RA, 0, m[2], m[3], 64, 0, 0x07, 0x08]);
        assert_eq!(m[8..16], [0; 8]);
        assert_eq!(m[16..24], [1, 1, 2, 0, 0, 0, 0, 0x0a]);
        assert_eq!(m[24..32], [5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
        assert_eq!(m[32..36], [3, 4, 64, 0xc0]);
        assert_eq!(m[36..40], DEFAULT_VALID_LIFETIME.to_be_bytes());
        assert_eq!(m[40..44], DEFAULT_PREFERRED_LIFETIME.to_be_bytes());
        // Host bits cleared.
        assert_eq!(m[48..64], a("2001:db8:3::").octets());
        assert_eq!(m[80..96], a("2001:db8:4::").octets());
        assert!(Message::new_checked(m).unwrap().verify_checksum(&ll(), &ipv6::ALL_NODES));
        // RA is not one of the parsed messages.
        assert_eq!(parse(&out[..n]), Ok(None));

        let n = build_router_advert_with_lifetimes(&mut out, &ll(), &mn2(), &MAC, &[], 0, None, 10, 5).unwrap();
        assert_eq!(n, 64);
        assert_eq!(
            build_router_advert(&mut out, &mn2(), &mn2(), &MAC, &prefixes, 1800, None),
            Err(Error::Malformed { layer: "nd", what: "router advertisement source not link-local" })
        );
        assert!(build_router_advert(&mut out, &ll(), &mn2(), &MAC, &[(mn2(), 129)], 1, None).is_err());
        assert!(build_router_advert_with_lifetimes(&mut out, &ll(), &mn2(), &MAC, &[], 0, None, 5, 10).is_err());
        assert!(build_router_advert(&mut out[..100], &ll(), &mn2(), &MAC, &prefixes, 1, None).is_err());
    }

    #[test]
    fn router_solicit() {
        let p = icmp(&ll(), &ipv6::ALL_ROUTERS, &[RS, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 9]);
        assert_eq!(parse(&p), Ok(Some(Nd::RouterSolicit { source_ll: Some([2, 0, 0, 0, 0, 9]) })));
        let p = icmp(&a("::"), &ipv6::ALL_ROUTERS, &[RS, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse(&p), Ok(Some(Nd::RouterSolicit { source_ll: None })));
        // §6.1.1: SLLA from the unspecified address.
        let p = icmp(&a("::"), &ipv6::ALL_ROUTERS, &[RS, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 9]);
        assert_eq!(parse(&p).unwrap_err().reason(), "malformed");
        // A non-Ethernet-sized link-layer option is skipped, not misread.
        let p = icmp(&ll(), &ipv6::ALL_ROUTERS, &[&[RS, 0, 0, 0, 0, 0, 0, 0, 1, 2][..], &[0; 14]].concat());
        assert_eq!(parse(&p), Ok(Some(Nd::RouterSolicit { source_ll: None })));
    }

    #[test]
    fn validity_checks() {
        let good = icmp(&ll(), &mn2(), &ns_msg(&mn2(), Some(MAC)));
        assert!(parse(&good).unwrap().is_some());

        let mut p = good.clone();
        p[7] = 254; // §7.1.1 hop limit
        assert_eq!(parse(&p), Err(Error::Malformed { layer: "nd", what: "hop limit not 255" }));

        let mut p = good.clone();
        p[41] = 1; // code
        assert_eq!(parse(&p), Err(Error::Malformed { layer: "nd", what: "code not 0" }));

        let mut p = good.clone();
        p[50] ^= 0x40; // checksum
        assert_eq!(parse(&p), Err(Error::Checksum { layer: "nd" }));
        assert_eq!(parse(&p).unwrap_err().to_string(), "nd: checksum does not verify");

        // Option of length 0.
        let mut m = ns_msg(&mn2(), None);
        m.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse(&icmp(&ll(), &mn2(), &m)), Err(Error::Malformed { layer: "nd", what: "option length 0" }));
        // Option running past the end.
        let mut m = ns_msg(&mn2(), None);
        m.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse(&icmp(&ll(), &mn2(), &m)).unwrap_err().reason(), "malformed");
        let mut m = ns_msg(&mn2(), None);
        m.push(1);
        assert_eq!(parse(&icmp(&ll(), &mn2(), &m)).unwrap_err().reason(), "malformed");

        // Short message.
        let m = &ns_msg(&mn2(), None)[..20];
        assert_eq!(parse(&icmp(&ll(), &mn2(), m)), Err(Error::Truncated { layer: "nd", required: 24, len: 20 }));

        // Multicast target.
        let p = icmp(&ll(), &mn2(), &ns_msg(&a("ff02::1"), None));
        assert_eq!(parse(&p), Err(Error::Malformed { layer: "nd", what: "target is multicast" }));

        // DAD: must go to the solicited-node address and carry no SLLA.
        let p = icmp(&a("::"), &ipv6::solicited_node(&mn2()), &ns_msg(&mn2(), None));
        assert!(parse(&p).unwrap().is_some());
        let p = icmp(&a("::"), &ipv6::solicited_node(&mn2()), &ns_msg(&mn2(), Some(MAC)));
        assert_eq!(parse(&p).unwrap_err().reason(), "malformed");
        let p = icmp(&a("::"), &mn2(), &ns_msg(&mn2(), None));
        assert_eq!(parse(&p).unwrap_err().reason(), "malformed");

        // NA with S=1 to multicast.
        let mut na = ns_msg(&mn2(), None);
        na[0] = NA;
        na[4] = 0x40;
        let p = icmp(&ll(), &ipv6::ALL_NODES, &na);
        assert_eq!(parse(&p), Err(Error::Malformed { layer: "nd", what: "solicited advertisement to multicast" }));
        na[4] = 0x20;
        let p = icmp(&ll(), &ipv6::ALL_NODES, &na);
        assert!(matches!(parse(&p), Ok(Some(Nd::NeighborAdvert { override_: true, solicited: false, .. }))));
    }

    #[test]
    fn not_nd() {
        let p = packet(&ll(), &mn2(), proto::UDP, &[0; 8]);
        assert_eq!(parse(&p), Ok(None));
        let p = icmp(&ll(), &mn2(), &[icmpv6::ECHO_REQUEST, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse(&p), Ok(None));
        let p = icmp(&ll(), &mn2(), &[]);
        assert_eq!(parse(&p), Ok(None));
        // A later fragment whose payload starts with 135.
        let body = [&frag_bytes(proto::ICMPV6, 10, false, 1)[..], &ns_msg(&mn2(), None)].concat();
        assert_eq!(parse(&packet(&ll(), &mn2(), proto::FRAGMENT, &body)), Ok(None));
        // A first fragment of an NS is refused (RFC 6980).
        let body = [&frag_bytes(proto::ICMPV6, 0, true, 1)[..], &ns_msg(&mn2(), None)].concat();
        assert_eq!(parse(&packet(&ll(), &mn2(), proto::FRAGMENT, &body)).unwrap_err().reason(), "malformed");
        // Behind a Destination Options header it still parses.
        let mut p = packet(&ll(), &mn2(), proto::DEST_OPTS, &[&opts_header(proto::ICMPV6, &[])[..], &ns_msg(&mn2(), None)].concat());
        p[7] = 255;
        let c = checksum::upper_layer(&ll(), &mn2(), proto::ICMPV6, &p[48..]);
        p[50..52].copy_from_slice(&c.to_be_bytes());
        assert!(parse(&p).unwrap().is_some());
    }
}
