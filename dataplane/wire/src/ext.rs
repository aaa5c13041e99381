//! The bounded walk over an IPv6 packet's extension-header chain (RFC 8200 §4).
//!
//! One pass, no allocation: it records what the rewriters need (where a Type 2 Routing
//! Header goes, where a Home Address option sits, where the upper layer starts) and refuses
//! chains longer than [`MAX_HEADERS`] or headers that do not fit in `40 + payload_len`.

use core::net::Ipv6Addr;

use crate::ipv6::{self, get_addr, get_u16, get_u32, get_u8, proto, Header, HEADER_LEN};
use crate::{Error, Result};

/// The most extension headers the walk accepts. RFC 8200 §4.1's recommended order has at
/// most 7 (Destination Options twice) plus AH; anything longer is an attack or a bug.
pub const MAX_HEADERS: usize = 8;

const LAYER: &str = "ipv6-ext";

// Hop-by-Hop and Destination Options headers (RFC 8200 §4.3, §4.6); the Routing header
// (§4.4) shares the first two bytes, the Fragment header (§4.5) is fixed at 8 bytes, AH
// (RFC 4302 §2) counts its length in 4-byte units minus 2.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Next Header  |  Hdr Ext Len  |                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
// .                    Options (TLV-encoded)                      .
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Routing:   | Next Header | Hdr Ext Len | Routing Type | Segments Left | type-specific...
// Fragment:  | Next Header | Reserved | Fragment Offset (13 bits) |Res|M| Identification(32)
mod field {
    pub const NEXT_HEADER: usize = 0;
    pub const HDR_EXT_LEN: usize = 1;
    pub const OPTIONS: usize = 2;
    pub const ROUTING_TYPE: usize = 2;
    pub const SEGMENTS_LEFT: usize = 3;
    pub const RH2_HOME_ADDRESS: usize = 8;
    pub const FRAG_OFFSET_FLAGS: usize = 2;
    pub const FRAG_IDENT: usize = 4;
    pub const FRAG_LEN: usize = 8;
}

/// Option types inside Hop-by-Hop and Destination Options (RFC 8200 §4.2).
pub mod option {
    pub const PAD1: u8 = 0;
    pub const PADN: u8 = 1;
    /// Tunnel Encapsulation Limit (RFC 2473 §5.1).
    pub const TUNNEL_ENCAP_LIMIT: u8 = 4;
    /// Home Address (RFC 6275 §6.3).
    pub const HOME_ADDRESS: u8 = 201;
}

/// A Routing header found by the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routing {
    /// Offset of the header from the start of the IPv6 header.
    pub offset: usize,
    pub len: usize,
    pub routing_type: u8,
    pub segments_left: u8,
    /// The Home Address of a Type 2 Routing Header (RFC 6275 §6.4); `None` for other types.
    pub home_address: Option<Ipv6Addr>,
}

/// The Destination Options header holding a Home Address option (RFC 6275 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HomeAddressOpt {
    /// Offset of the Destination Options header from the start of the IPv6 header.
    pub header_offset: usize,
    pub header_len: usize,
    /// Offset of the option's type byte from the start of the IPv6 header.
    pub option_offset: usize,
    pub home: Ipv6Addr,
    /// Nothing but Pad1/PadN besides the Home Address option in that header.
    pub only_option: bool,
    /// Offset of the Next Header byte that names this Destination Options header (byte 6
    /// of the IPv6 header, or byte 0 of the previous extension header).
    pub prev_next_header_offset: usize,
}

/// A Fragment header found by the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    pub offset: usize,
    /// In 8-byte units.
    pub fragment_offset: u16,
    pub more: bool,
    pub id: u32,
}

/// What the walk found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chain {
    /// The next-header value where the walk stopped (e.g. 58, 17, 6, 135, 41, 50, 59).
    pub upper_proto: u8,
    /// Its offset from the start of the IPv6 header.
    pub upper_offset: usize,
    /// Where a Type 2 Routing Header goes: after the IPv6 header and Hop-by-Hop
    /// (RFC 8200 §4.1 order; RFC 6275 §6.4).
    pub insert_offset: usize,
    pub hop_by_hop: bool,
    pub routing: Option<Routing>,
    pub home_address: Option<HomeAddressOpt>,
    pub fragment: Option<Fragment>,
    /// Extension headers walked.
    pub headers: u8,
}

impl Chain {
    /// True when the packet is a fragment other than the first: the walk stopped right after
    /// the Fragment header and the upper-layer header is not in this packet.
    pub fn is_non_first_fragment(&self) -> bool {
        matches!(self.fragment, Some(f) if f.fragment_offset != 0)
    }

    /// The (source, destination) of the upper-layer checksum pseudo-header (RFC 8200 §8.1):
    /// the home address of a Home Address option instead of the source (RFC 6275 §6.3), the
    /// Type 2 Routing Header's address instead of a destination it has not reached yet
    /// (RFC 6275 §6.4). Other routing types are not resolved.
    pub fn pseudo_header_addrs(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> (Ipv6Addr, Ipv6Addr) {
        let s = self.home_address.map_or(*src, |h| h.home);
        let d = match self.routing {
            Some(Routing { routing_type: 2, segments_left: 1, home_address: Some(h), .. }) => h,
            _ => *dst,
        };
        (s, d)
    }
}

/// True for the next-header values the walk steps over.
#[inline(always)] // worker hot path (cross-crate)
pub const fn is_walked(next_header: u8) -> bool {
    // One bit test: all five values are below 64 (a `matches!` compiled to a compare chain
    // cost the uplink ~10 instructions per packet, callgrind).
    const WALKED: u64 = 1 << proto::HOP_BY_HOP | 1 << proto::DEST_OPTS | 1 << proto::ROUTING | 1 << proto::FRAGMENT | 1 << proto::AH;
    next_header < 64 && (WALKED >> next_header) & 1 != 0
}

/// Walks the extension headers of the IPv6 packet at the start of `ipv6_packet` (a longer
/// buffer is fine; the walk is bounded by `40 + payload_len`).
#[inline] // worker hot path (cross-crate)
pub fn walk(ipv6_packet: &[u8]) -> Result<Chain> {
    let header = Header::new_checked(ipv6_packet)?;
    let end = header.total_len();
    // `new_checked` proved `end <= ipv6_packet.len()`; `get` keeps that local.
    let pkt = ipv6_packet.get(..end).ok_or(Error::Truncated { layer: LAYER, required: end, len: ipv6_packet.len() })?;

    let mut chain = Chain { insert_offset: HEADER_LEN, ..Chain::default() };
    let mut next = header.next_header();
    let mut off = HEADER_LEN;
    let mut prev_nh = ipv6::field::NEXT_HEADER;

    while is_walked(next) {
        if usize::from(chain.headers) >= MAX_HEADERS {
            return Err(Error::ChainTooLong);
        }
        let len = header_len(pkt, off, next)?;
        let hdr_next = get_u8(pkt, off + field::NEXT_HEADER).unwrap_or(proto::NO_NEXT);
        match next {
            proto::HOP_BY_HOP => {
                // RFC 8200 §4.1: Hop-by-Hop only immediately after the IPv6 header.
                if off != HEADER_LEN {
                    return Err(Error::Malformed { layer: LAYER, what: "hop-by-hop not first" });
                }
                options(pkt, off, len, false, prev_nh, &mut chain)?;
                chain.hop_by_hop = true;
                chain.insert_offset = off + len;
            }
            proto::DEST_OPTS => options(pkt, off, len, true, prev_nh, &mut chain)?,
            proto::ROUTING => {
                if chain.routing.is_some() {
                    // RFC 8200 §4.1: at most once. Two would make RH2 handling ambiguous.
                    return Err(Error::Malformed { layer: LAYER, what: "second routing header" });
                }
                chain.routing = Some(routing(pkt, off, len)?);
            }
            proto::FRAGMENT => {
                if chain.fragment.is_some() {
                    return Err(Error::Malformed { layer: LAYER, what: "second fragment header" });
                }
                let bits = get_u16(pkt, off + field::FRAG_OFFSET_FLAGS).unwrap_or(0);
                let frag = Fragment { offset: off, fragment_offset: bits >> 3, more: bits & 1 != 0, id: get_u32(pkt, off + field::FRAG_IDENT).unwrap_or(0) };
                chain.fragment = Some(frag);
                if frag.fragment_offset != 0 {
                    // A later fragment: what follows is payload, not headers (RFC 8200 §4.5).
                    chain.headers += 1;
                    chain.upper_proto = hdr_next;
                    chain.upper_offset = off + len;
                    return Ok(chain);
                }
            }
            _ => {} // AH: nothing to record.
        }
        chain.headers += 1;
        prev_nh = off + field::NEXT_HEADER;
        off += len;
        next = hdr_next;
    }
    chain.upper_proto = next;
    chain.upper_offset = off;
    Ok(chain)
}

/// The length of the extension header of type `next` at `off`, checked to fit in `pkt`.
fn header_len(pkt: &[u8], off: usize, next: u8) -> Result<usize> {
    let end = pkt.len();
    let unit = get_u8(pkt, off + field::HDR_EXT_LEN).ok_or(Error::Truncated { layer: LAYER, required: off + 2, len: end })?;
    let len = match next {
        proto::FRAGMENT => field::FRAG_LEN,
        proto::AH => (usize::from(unit) + 2) * 4, // RFC 4302 §2.2
        _ => (usize::from(unit) + 1) * 8,
    };
    if off + len > end {
        return Err(Error::Truncated { layer: LAYER, required: off + len, len: end });
    }
    Ok(len)
}

fn routing(pkt: &[u8], off: usize, len: usize) -> Result<Routing> {
    let routing_type = get_u8(pkt, off + field::ROUTING_TYPE).unwrap_or(0);
    let segments_left = get_u8(pkt, off + field::SEGMENTS_LEFT).unwrap_or(0);
    let mut home_address = None;
    if routing_type == 2 {
        // RFC 6275 §6.4: Hdr Ext Len 2, exactly one address, Segments Left 1 (or 0 once
        // processed); anything else is an invalid Type 2 header.
        if len != 24 {
            return Err(Error::Malformed { layer: LAYER, what: "type 2 routing header length" });
        }
        if segments_left > 1 {
            return Err(Error::Malformed { layer: LAYER, what: "type 2 routing header segments left" });
        }
        home_address = get_addr(pkt, off + field::RH2_HOME_ADDRESS);
    }
    Ok(Routing { offset: off, len, routing_type, segments_left, home_address })
}

/// Parses the TLV options of a Hop-by-Hop (`dest == false`) or Destination Options header.
fn options(pkt: &[u8], off: usize, len: usize, dest: bool, prev_nh: usize, chain: &mut Chain) -> Result<()> {
    let hdr_end = off + len;
    let body = pkt.get(..hdr_end).unwrap_or(&[]);
    let mut i = off + field::OPTIONS;
    let mut hao_at = None;
    let mut others = false;
    while i < hdr_end {
        let t = get_u8(body, i).unwrap_or(option::PAD1);
        if t == option::PAD1 {
            i += 1;
            continue;
        }
        let Some(l) = get_u8(body, i + 1) else {
            return Err(Error::Malformed { layer: LAYER, what: "option overruns header" });
        };
        let opt_end = i + 2 + usize::from(l);
        if opt_end > hdr_end {
            return Err(Error::Malformed { layer: LAYER, what: "option overruns header" });
        }
        match t {
            option::PADN => {}
            option::HOME_ADDRESS => {
                // RFC 6275 §6.3: carried in a Destination Options header, length 16.
                if !dest {
                    return Err(Error::Malformed { layer: LAYER, what: "home address option in hop-by-hop" });
                }
                if l != 16 {
                    return Err(Error::Malformed { layer: LAYER, what: "home address option length" });
                }
                if chain.home_address.is_some() || hao_at.is_some() {
                    return Err(Error::Malformed { layer: LAYER, what: "second home address option" });
                }
                hao_at = Some(i);
            }
            _ => others = true,
        }
        i = opt_end;
    }
    if let Some(at) = hao_at {
        let home = get_addr(body, at + 2).ok_or(Error::Malformed { layer: LAYER, what: "option overruns header" })?;
        chain.home_address =
            Some(HomeAddressOpt { header_offset: off, header_len: len, option_offset: at, home, only_option: !others, prev_next_header_offset: prev_nh });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ipv6::tests::a;

    pub fn src() -> Ipv6Addr {
        a("2001:db8:1::100")
    }
    pub fn dst() -> Ipv6Addr {
        a("2001:db8:3::300")
    }

    /// An IPv6 packet with the given first next header and payload, hop limit 64 (the
    /// shorthand of this crate's tests for `testpkt::ip6`).
    pub fn packet(src: &Ipv6Addr, dst: &Ipv6Addr, nh: u8, payload: &[u8]) -> Vec<u8> {
        crate::testpkt::ip6(*src, *dst, nh, 64, payload)
    }

    /// A Destination Options header: next header, then options padded to 8n with PadN/Pad1.
    pub fn opts_header(next: u8, opts: &[u8]) -> Vec<u8> {
        let mut v = vec![next, 0];
        v.extend_from_slice(opts);
        let pad = (8 - v.len() % 8) % 8;
        match pad {
            0 => {}
            1 => v.push(0),
            n => {
                v.push(1);
                v.push((n - 2) as u8);
                v.extend(std::iter::repeat_n(0, n - 2));
            }
        }
        v[1] = (v.len() / 8 - 1) as u8;
        v
    }

    pub fn hao_bytes(home: &Ipv6Addr) -> Vec<u8> {
        let mut v = vec![201, 16];
        v.extend_from_slice(&home.octets());
        v
    }

    pub fn rh2_bytes(next: u8, sl: u8, home: &Ipv6Addr) -> Vec<u8> {
        let mut v = vec![next, 2, 2, sl, 0, 0, 0, 0];
        v.extend_from_slice(&home.octets());
        v
    }

    pub fn frag_bytes(next: u8, offset: u16, more: bool, id: u32) -> Vec<u8> {
        let mut v = vec![next, 0];
        v.extend_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
        v.extend_from_slice(&id.to_be_bytes());
        v
    }

    const UDP8: [u8; 8] = [0x12, 0x34, 0x56, 0x78, 0, 8, 0, 0];

    #[test]
    fn no_extension_headers() {
        let p = packet(&src(), &dst(), proto::UDP, &UDP8);
        let c = walk(&p).unwrap();
        assert_eq!(c, Chain { upper_proto: 17, upper_offset: 40, insert_offset: 40, ..Chain::default() });
        assert_eq!(c.pseudo_header_addrs(&src(), &dst()), (src(), dst()));
    }

    #[test]
    fn full_chain_fixture() {
        // HbH(PadN) | DestOpts(PadN 4, HAO at 8n+6) | Fragment(first, M) | AH(16) | UDP
        let hbh: [u8; 8] = [proto::DEST_OPTS, 0, 1, 4, 0, 0, 0, 0];
        let mut d = vec![proto::FRAGMENT, 2, 1, 2, 0, 0];
        d.extend(hao_bytes(&a("2001:db8:1::1")));
        let frag = frag_bytes(proto::AH, 0, true, 0xdeadbeef);
        let ah: [u8; 16] = [proto::UDP, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0];
        let body = [&hbh[..], &d, &frag, &ah, &UDP8].concat();
        let mut p = packet(&a("2001:db8:2::200"), &dst(), proto::HOP_BY_HOP, &body);
        p.extend_from_slice(&[0, 0, 0]); // link padding
        let c = walk(&p).unwrap();
        assert_eq!(c.upper_proto, proto::UDP);
        assert_eq!(c.upper_offset, 40 + 8 + 24 + 8 + 16);
        assert_eq!(c.insert_offset, 48);
        assert!(c.hop_by_hop);
        assert_eq!(c.headers, 4);
        assert_eq!(c.routing, None);
        assert_eq!(
            c.home_address,
            Some(HomeAddressOpt {
                header_offset: 48,
                header_len: 24,
                option_offset: 54,
                home: a("2001:db8:1::1"),
                only_option: true,
                prev_next_header_offset: 40,
            })
        );
        assert_eq!(c.fragment, Some(Fragment { offset: 72, fragment_offset: 0, more: true, id: 0xdeadbeef }));
        assert!(!c.is_non_first_fragment());
        assert_eq!(c.pseudo_header_addrs(&a("2001:db8:2::200"), &dst()), (a("2001:db8:1::1"), dst()));
        // Truncation at every length of the buffer is an error, never a panic.
        let total = 40 + body.len();
        for n in 0..total {
            assert!(walk(&p[..n]).is_err(), "len {n}");
        }
        // And so is every shorter payload_len claim.
        for pl in 0..body.len() {
            let mut q = p.clone();
            q[4..6].copy_from_slice(&(pl as u16).to_be_bytes());
            match walk(&q) {
                Ok(c) => assert!(c.upper_offset <= 40 + pl),
                Err(e) => assert_eq!(e.reason(), "truncated", "pl {pl}"),
            }
        }
    }

    #[test]
    fn type2_routing_header() {
        let body = [&rh2_bytes(proto::UDP, 1, &a("2001:db8:1::100"))[..], &UDP8].concat();
        let p = packet(&dst(), &a("2001:db8:2::200"), proto::ROUTING, &body);
        let c = walk(&p).unwrap();
        assert_eq!(c.routing, Some(Routing { offset: 40, len: 24, routing_type: 2, segments_left: 1, home_address: Some(a("2001:db8:1::100")) }));
        assert_eq!((c.upper_proto, c.upper_offset, c.insert_offset), (17, 64, 40));
        assert_eq!(c.pseudo_header_addrs(&dst(), &a("2001:db8:2::200")), (dst(), a("2001:db8:1::100")));

        // Hdr Ext Len 4 (two addresses) and Segments Left 2 are invalid for type 2.
        let mut bad = p.clone();
        bad[41] = 4;
        bad[4..6].copy_from_slice(&((body.len() + 16) as u16).to_be_bytes());
        bad.extend_from_slice(&[0; 16]);
        assert_eq!(walk(&bad), Err(Error::Malformed { layer: "ipv6-ext", what: "type 2 routing header length" }));
        let mut bad = p.clone();
        bad[43] = 2;
        assert_eq!(walk(&bad), Err(Error::Malformed { layer: "ipv6-ext", what: "type 2 routing header segments left" }));
        let mut done = p.clone();
        done[43] = 0;
        assert_eq!(walk(&done).unwrap().routing.unwrap().segments_left, 0);

        // Other routing types are recorded without an address.
        let mut t0 = p.clone();
        t0[42] = 0;
        t0[43] = 5;
        let r = walk(&t0).unwrap().routing.unwrap();
        assert_eq!((r.routing_type, r.segments_left, r.home_address), (0, 5, None));

        // Two routing headers are refused.
        let body2 = [&rh2_bytes(proto::ROUTING, 1, &src())[..], &rh2_bytes(proto::UDP, 1, &src()), &UDP8].concat();
        let p2 = packet(&dst(), &src(), proto::ROUTING, &body2);
        assert_eq!(walk(&p2).unwrap_err().reason(), "malformed");
    }

    #[test]
    fn stops_at_upper_layers() {
        for nh in [proto::ICMPV6, proto::UDP, proto::TCP, proto::MOBILITY, proto::IPV6, proto::ESP, proto::NO_NEXT, 253] {
            let body = [&opts_header(nh, &[])[..], &[1, 2, 3, 4]].concat();
            let p = packet(&src(), &dst(), proto::DEST_OPTS, &body);
            let c = walk(&p).unwrap();
            assert_eq!((c.upper_proto, c.upper_offset, c.headers), (nh, 48, 1));
            assert_eq!(c.home_address, None);
        }
        // No Next Header straight after the IPv6 header with nothing after it.
        let p = packet(&src(), &dst(), proto::NO_NEXT, &[]);
        assert_eq!(walk(&p).unwrap().upper_offset, 40);
    }

    #[test]
    fn non_first_fragment_stops_after_fragment_header() {
        // What follows looks like a Destination Options header but is fragment payload.
        let body = [&frag_bytes(proto::DEST_OPTS, 185, false, 7)[..], &[0xff; 16]].concat();
        let p = packet(&src(), &dst(), proto::FRAGMENT, &body);
        let c = walk(&p).unwrap();
        assert_eq!((c.upper_proto, c.upper_offset, c.headers), (proto::DEST_OPTS, 48, 1));
        assert!(c.is_non_first_fragment());
        assert_eq!(c.fragment.unwrap().fragment_offset, 185);
        assert!(!c.fragment.unwrap().more);
    }

    #[test]
    fn hop_by_hop_elsewhere_is_malformed() {
        let body = [&opts_header(proto::HOP_BY_HOP, &[])[..], &opts_header(proto::UDP, &[]), &UDP8].concat();
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &body);
        assert_eq!(walk(&p), Err(Error::Malformed { layer: "ipv6-ext", what: "hop-by-hop not first" }));
    }

    #[test]
    fn chain_length_limit() {
        let mut body = Vec::new();
        for i in 0..MAX_HEADERS {
            let next = if i + 1 == MAX_HEADERS { proto::UDP } else { proto::DEST_OPTS };
            body.extend(opts_header(next, &[]));
        }
        body.extend_from_slice(&UDP8);
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &body);
        let c = walk(&p).unwrap();
        assert_eq!((c.headers as usize, c.upper_offset), (MAX_HEADERS, 40 + 8 * MAX_HEADERS));

        let body = [&opts_header(proto::DEST_OPTS, &[])[..], &body].concat();
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &body);
        assert_eq!(walk(&p), Err(Error::ChainTooLong));

        // A self-referencing chain that fills the packet ends in ChainTooLong or Truncated.
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &[proto::DEST_OPTS, 0, 1, 4, 0, 0, 0, 0].repeat(200));
        assert_eq!(walk(&p), Err(Error::ChainTooLong));
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &[proto::DEST_OPTS, 0, 1, 4, 0, 0, 0, 0].repeat(3));
        assert_eq!(walk(&p).unwrap_err().reason(), "truncated");
    }

    #[test]
    fn home_address_option_rules() {
        let home = a("2001:db8:1::100");
        // With another option besides padding: recorded, only_option = false.
        let mut opts = vec![option::TUNNEL_ENCAP_LIMIT, 1, 4, option::PAD1];
        opts.extend(hao_bytes(&home));
        let body = [&opts_header(proto::UDP, &opts)[..], &UDP8].concat();
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &body);
        let h = walk(&p).unwrap().home_address.unwrap();
        assert_eq!((h.home, h.only_option, h.option_offset), (home, false, 46));

        // Pad1s around it are still "only option".
        let opts = [&[0u8, 0, 0, 0][..], &hao_bytes(&home)].concat();
        let body = [&opts_header(proto::UDP, &opts)[..], &UDP8].concat();
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &body);
        assert!(walk(&p).unwrap().home_address.unwrap().only_option);

        // Wrong length.
        let mut bad = hao_bytes(&home);
        bad[1] = 15;
        bad.pop();
        let body = [&opts_header(proto::UDP, &bad)[..], &UDP8].concat();
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &body);
        assert_eq!(walk(&p), Err(Error::Malformed { layer: "ipv6-ext", what: "home address option length" }));

        // Two in one header, or in two headers.
        let two = [hao_bytes(&home), hao_bytes(&home)].concat();
        let body = [&opts_header(proto::UDP, &two)[..], &UDP8].concat();
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &body);
        assert_eq!(walk(&p).unwrap_err().reason(), "malformed");
        let body = [&opts_header(proto::DEST_OPTS, &hao_bytes(&home))[..], &opts_header(proto::UDP, &hao_bytes(&home)), &UDP8].concat();
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &body);
        assert_eq!(walk(&p), Err(Error::Malformed { layer: "ipv6-ext", what: "second home address option" }));

        // In a Hop-by-Hop header.
        let body = [&opts_header(proto::UDP, &hao_bytes(&home))[..], &UDP8].concat();
        let p = packet(&src(), &dst(), proto::HOP_BY_HOP, &body);
        assert_eq!(walk(&p).unwrap_err().reason(), "malformed");
    }

    #[test]
    fn option_overrunning_header() {
        // PadN claiming 10 bytes in an 8-byte header; a lone type byte at the very end.
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &[proto::UDP, 0, 1, 10, 0, 0, 0, 0]);
        assert_eq!(walk(&p), Err(Error::Malformed { layer: "ipv6-ext", what: "option overruns header" }));
        let p = packet(&src(), &dst(), proto::DEST_OPTS, &[proto::UDP, 0, 1, 3, 0, 0, 0, 7]);
        assert_eq!(walk(&p).unwrap_err().reason(), "malformed");
    }

    #[test]
    fn ah_length() {
        // AH payload length 1 => (1 + 2) * 4 = 12 bytes.
        let body = [&[proto::UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..], &UDP8].concat();
        let p = packet(&src(), &dst(), proto::AH, &body);
        assert_eq!(walk(&p).unwrap().upper_offset, 52);
        let p = packet(&src(), &dst(), proto::AH, &[proto::UDP, 255, 0, 0]);
        assert_eq!(walk(&p), Err(Error::Truncated { layer: "ipv6-ext", required: 40 + 257 * 4, len: 44 }));
    }

    #[test]
    fn error_display() {
        assert_eq!(Error::Malformed { layer: LAYER, what: "hop-by-hop not first" }.to_string(), "ipv6-ext: malformed hop-by-hop not first");
    }
}
