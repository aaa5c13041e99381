//! The MAG–LMA IPv6-in-IPv6 tunnel (RFC 2473, used by RFC 5213 §6.10.5): prepend and
//! remove the outer header in place. No allocation; the caller owns the headroom.

use core::net::Ipv6Addr;

use crate::ext::{self, Chain};
use crate::ipv6::{self, proto, Header, Repr, HEADER_LEN};
use crate::rh2;
use crate::{Error, Result};

/// Bytes the outer header adds.
pub const OUTER_LEN: usize = 40;

const LAYER: &str = "tunnel";

/// Where the inner packet sits in a tunnel packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decap {
    pub outer_src: Ipv6Addr,
    pub outer_dst: Ipv6Addr,
    /// Offset of the inner IPv6 header from the start of the outer one (40, or more when
    /// the outer carries extension headers such as a Tunnel Encapsulation Limit option).
    pub inner_offset: usize,
    /// The inner packet's own `40 + payload_len`.
    pub inner_len: usize,
}

/// Checks the inner packet at `buf[at..]` and returns the outer header to write.
fn outer_for(buf: &[u8], at: usize, src: &Ipv6Addr, dst: &Ipv6Addr, hop_limit: u8) -> Result<Repr> {
    let len = buf.len();
    let inner = buf.get(at..).ok_or(Error::Truncated { layer: LAYER, required: at + HEADER_LEN, len })?;
    let h = Header::new_checked(inner)?;
    // RFC 2473 §7 would fragment (or use a jumbogram); the agent refuses instead.
    let payload_len = u16::try_from(h.total_len()).map_err(|_| Error::Malformed { layer: LAYER, what: "inner packet too long for tunnel" })?;
    Ok(Repr {
        src: *src,
        dst: *dst,
        next_header: proto::IPV6,
        payload_len,
        hop_limit,
        // RFC 2473 §6.4 allows copying the inner traffic class; the flow label is ours.
        traffic_class: h.traffic_class(),
        flow_label: 0,
    })
}

/// `buf` = [40 free bytes][inner IPv6 packet ...]: writes the outer header into `buf[..40]`.
/// The inner packet must be valid IPv6 and at most 65535 bytes long. Decrementing the
/// inner hop limit (RFC 2473 §3.1, the encapsulator forwards) is the caller's job.
#[inline] // worker hot path (cross-crate)
pub fn encapsulate(buf: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr, hop_limit: u8) -> Result<()> {
    let outer = outer_for(buf, OUTER_LEN, src, dst, hop_limit)?;
    outer.emit(buf)
}

/// Writes the outer header (RFC 2473 §3, RFC 5213 §6.10.5) for an inner packet of
/// `inner_len` bytes: next header IPv6, the inner traffic class copied (RFC 2473 §6.4),
/// flow label 0. The bytes of [`encapsulate`] without its checks of the inner packet
/// (the worker's hot path, whose caller has made them; a test compares the two).
#[inline(always)]
pub fn write_outer(o: &mut [u8; HEADER_LEN], src: &[u8; 16], dst: &[u8; 16], hop_limit: u8, inner_len: usize, traffic_class: u8) {
    o[0] = 0x60 | (traffic_class >> 4);
    o[1] = traffic_class << 4;
    o[2] = 0;
    o[3] = 0;
    o[ipv6::field::PAYLOAD_LEN].copy_from_slice(&(inner_len as u16).to_be_bytes());
    o[ipv6::field::NEXT_HEADER] = proto::IPV6;
    o[ipv6::field::HOP_LIMIT] = hop_limit;
    o[ipv6::field::SRC_ADDR].copy_from_slice(src);
    o[ipv6::field::DST_ADDR].copy_from_slice(dst);
}

/// Bytes [`encapsulate_with_rh2`] adds: the outer header and the RH2.
pub const OUTER_WITH_RH2_LEN: usize = OUTER_LEN + rh2::LEN;

/// `rh2::insert`, the inner hop limit − 1 and [`encapsulate`] in one pass, for the packet
/// `rh2::insertable_plain` accepts (the worker's common route-optimized uplink packet).
/// `buf` = [64 free bytes][`l2_len` bytes of link header][inner IPv6 packet]; `ip` is its
/// header and its hop limit is above 1. Afterwards `buf` = [`l2_len` bytes for the caller's
/// link header][outer header `src` → `dst`][inner header, destination := `care_of`, next
/// header Routing][RH2 holding the old destination (RFC 6275 §6.4)][payload]: the inner
/// header moves 24 bytes forward, nothing else moves. The same bytes as the general path
/// (a test compares them). `None`: `buf` is too short, and unchanged.
#[inline(always)]
pub fn encapsulate_with_rh2(buf: &mut [u8], l2_len: usize, ip: &ipv6::Fixed, care_of: &[u8; 16], src: &[u8; 16], dst: &[u8; 16], hop_limit: u8) -> Option<()> {
    const ADD: usize = OUTER_WITH_RH2_LEN;
    // [64 free, ending in the old link header][inner 40] → [outer 40][inner 40][RH2 24]
    let d: &mut [u8; ADD + HEADER_LEN] = buf.get_mut(l2_len..l2_len.checked_add(ADD + HEADER_LEN)?)?.try_into().ok()?;
    d.copy_within(ADD..ADD + HEADER_LEN, OUTER_LEN);
    let (o, rest) = d.split_first_chunk_mut::<HEADER_LEN>()?;
    let (inner, r) = rest.split_first_chunk_mut::<HEADER_LEN>()?;
    rh2::write(r.first_chunk_mut()?, ip.next_header, 1, &ip.dst.to_be_bytes());
    inner[ipv6::field::PAYLOAD_LEN].copy_from_slice(&((ip.payload_len + rh2::LEN) as u16).to_be_bytes());
    inner[ipv6::field::NEXT_HEADER] = proto::ROUTING;
    inner[ipv6::field::HOP_LIMIT] = ip.hop_limit.wrapping_sub(1);
    inner[ipv6::field::DST_ADDR].copy_from_slice(care_of);
    write_outer(o, src, dst, hop_limit, HEADER_LEN + ip.payload_len + rh2::LEN, ip.traffic_class);
    Some(())
}

/// Finds the inner packet of an IPv6-in-IPv6 packet. The outer chain is walked, so
/// extension headers such as a Tunnel Encapsulation Limit option (RFC 2473 §5.1) are
/// tolerated; the upper layer must be IPv6 (41) and the inner header valid and inside the
/// outer payload. A fragmented outer packet is refused (it would need reassembly).
pub fn decapsulate(packet: &[u8]) -> Result<Decap> {
    decapsulate_walked(packet, &ext::walk(packet)?)
}

/// [`decapsulate`] for a caller that already walked the outer packet (saves the second
/// walk on the worker path). `chain` must be `ext::walk(packet)`; offsets that do not fit
/// the packet are refused, never trusted.
#[inline] // worker hot path (cross-crate)
pub fn decapsulate_walked(packet: &[u8], chain: &Chain) -> Result<Decap> {
    if chain.upper_proto != proto::IPV6 {
        return Err(Error::Malformed { layer: LAYER, what: "not ipv6-in-ipv6" });
    }
    if chain.fragment.is_some() {
        return Err(Error::Malformed { layer: LAYER, what: "fragmented tunnel packet" });
    }
    let outer = Header::new_checked(packet)?;
    let inner = packet.get(chain.upper_offset..outer.total_len()).unwrap_or(&[]);
    let ih = Header::new_checked(inner)?;
    Ok(Decap { outer_src: outer.src_addr(), outer_dst: outer.dst_addr(), inner_offset: chain.upper_offset, inner_len: ih.total_len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext::tests::{opts_header, packet};
    use crate::ipv6::tests::a;

    fn mag() -> Ipv6Addr {
        a("2001:db8:ff::1")
    }
    fn lma() -> Ipv6Addr {
        a("2001:db8:fe::1")
    }

    fn inner() -> Vec<u8> {
        let mut p = packet(&a("2001:db8:3::300"), &a("2001:db8:1::100"), proto::UDP, &[9; 12]);
        p[0] = 0x6b; // traffic class 0xb8
        p[1] = 0x81;
        p
    }

    /// The one-pass rewrite gives the bytes of the general path: `rh2::insert`, hop limit
    /// − 1, then `encapsulate` (traffic class copied, payload and link padding untouched).
    #[test]
    fn one_pass_rh2_and_tunnel_equal_insert_then_encapsulate() {
        let (mn2, home, care_of) = (a("2001:db8:3::300"), a("2001:db8:1::100"), a("2001:db8:2::200"));
        let udp = |n: usize| crate::rh2::tests::udp(&mn2, &home, &vec![0; n]);
        let echo = [128, 0, 0, 0, 0, 1, 0, 1];
        let l2 = [2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 3, 0, 0x86, 0xdd];
        for (nh, payload) in [(proto::UDP, udp(30)), (proto::UDP, udp(0)), (proto::TCP, vec![7; 20]), (proto::ICMPV6, echo.to_vec()), (proto::NO_NEXT, vec![])]
        {
            let mut pkt = packet(&mn2, &home, nh, &payload);
            pkt[0] = 0x6b; // traffic class 0xb8, copied to the outer header
            pkt[1] = 0x85;
            let ip = ipv6::Fixed::parse(&pkt).unwrap();
            assert!(rh2::insertable_plain(&ip, pkt.get(HEADER_LEN).copied()), "next header {nh}");

            let mut general = [vec![0u8; rh2::LEN], l2.to_vec(), pkt.clone(), vec![0; 2]].concat();
            rh2::insert(&mut general, l2.len(), &care_of).unwrap();
            general[l2.len() + 7] -= 1;
            let mut expect = [vec![0u8; OUTER_LEN], general[l2.len()..].to_vec()].concat();
            encapsulate(&mut expect, &mag(), &lma(), 64).unwrap();

            let mut fast = [vec![0u8; OUTER_WITH_RH2_LEN], l2.to_vec(), pkt.clone(), vec![0; 2]].concat();
            encapsulate_with_rh2(&mut fast, l2.len(), &ip, &care_of.octets(), &mag().octets(), &lma().octets(), 64).unwrap();
            assert_eq!(&fast[l2.len()..], &expect[..], "next header {nh}");
        }
        // Too short: refused, nothing written.
        let pkt = packet(&mn2, &home, proto::NO_NEXT, &[]);
        let ip = ipv6::Fixed::parse(&pkt).unwrap();
        let mut short = [vec![0u8; OUTER_WITH_RH2_LEN - 1], l2.to_vec(), pkt].concat();
        let before = short.clone();
        assert_eq!(encapsulate_with_rh2(&mut short, l2.len(), &ip, &care_of.octets(), &mag().octets(), &lma().octets(), 64), None);
        assert_eq!(short, before);
        assert_eq!(encapsulate_with_rh2(&mut short, usize::MAX, &ip, &care_of.octets(), &mag().octets(), &lma().octets(), 64), None);
    }

    #[test]
    fn write_outer_equals_encapsulate() {
        let inner = inner();
        let mut buf = [vec![0xee; 40], inner.clone()].concat();
        encapsulate(&mut buf, &mag(), &lma(), 7).unwrap();
        let mut o = [0xee; HEADER_LEN];
        write_outer(&mut o, &mag().octets(), &lma().octets(), 7, inner.len(), 0xb8);
        assert_eq!(o[..], buf[..40]);
    }

    #[test]
    fn encapsulate_fixture() {
        let inner = inner();
        let mut buf = [vec![0xee; 40], inner.clone(), vec![0, 0]].concat(); // 2 bytes of padding
        encapsulate(&mut buf, &mag(), &lma(), 64).unwrap();
        let mut expect = vec![0x6b, 0x80, 0, 0, 0, 52, 41, 64];
        expect.extend_from_slice(&mag().octets());
        expect.extend_from_slice(&lma().octets());
        assert_eq!(buf[..40], expect[..]);
        assert_eq!(buf[40..92], inner[..]);
        let d = decapsulate(&buf).unwrap();
        assert_eq!(d, Decap { outer_src: mag(), outer_dst: lma(), inner_offset: 40, inner_len: 52 });
    }

    #[test]
    fn encapsulate_refuses() {
        let inner = inner();
        let mut buf = [vec![0; 40], inner.clone()].concat();
        for n in 0..buf.len() {
            let before = buf[..n].to_vec();
            assert!(encapsulate(&mut buf[..n], &mag(), &lma(), 64).is_err(), "len {n}");
            assert_eq!(buf[..n], before[..]);
        }
        buf[40] = 0x45;
        assert_eq!(encapsulate(&mut buf, &mag(), &lma(), 64), Err(Error::Malformed { layer: "ipv6", what: "version" }));
        // 40 + 65535 cannot fit in the outer payload length.
        let mut big = vec![0u8; 80 + 65535];
        big[40] = 0x60;
        big[44..46].copy_from_slice(&65535u16.to_be_bytes());
        assert_eq!(encapsulate(&mut big, &mag(), &lma(), 64), Err(Error::Malformed { layer: "tunnel", what: "inner packet too long for tunnel" }));
        big[44..46].copy_from_slice(&65495u16.to_be_bytes());
        encapsulate(&mut big, &mag(), &lma(), 64).unwrap();
        assert_eq!(decapsulate(&big).unwrap().inner_len, 65535);
    }

    #[test]
    fn decapsulate_with_encapsulation_limit_option() {
        // RFC 2473 §5.1: Tunnel Encapsulation Limit, type 4, length 1, value 4.
        let body = [&opts_header(proto::IPV6, &[4, 1, 4])[..], &inner()].concat();
        let p = packet(&lma(), &mag(), proto::DEST_OPTS, &body);
        let d = decapsulate(&p).unwrap();
        assert_eq!((d.inner_offset, d.inner_len), (48, 52));
        assert_eq!((d.outer_src, d.outer_dst), (lma(), mag()));
    }

    #[test]
    fn decapsulate_refuses() {
        let p = packet(&lma(), &mag(), proto::IPV6, &inner());
        for n in 0..p.len() {
            assert!(decapsulate(&p[..n]).is_err(), "len {n}");
        }
        // Outer claims less than the inner needs.
        let mut q = p.clone();
        q[4..6].copy_from_slice(&51u16.to_be_bytes());
        assert_eq!(decapsulate(&q).unwrap_err().reason(), "truncated");
        // Not 41.
        assert_eq!(decapsulate(&packet(&lma(), &mag(), proto::UDP, &inner())), Err(Error::Malformed { layer: "tunnel", what: "not ipv6-in-ipv6" }));
        // Inner not IPv6.
        let mut q = p.clone();
        q[40] = 0x45;
        assert_eq!(decapsulate(&q).unwrap_err().reason(), "malformed");
        // Fragmented outer.
        let body = [&crate::ext::tests::frag_bytes(proto::IPV6, 0, true, 1)[..], &inner()].concat();
        assert_eq!(decapsulate(&packet(&lma(), &mag(), proto::FRAGMENT, &body)), Err(Error::Malformed { layer: "tunnel", what: "fragmented tunnel packet" }));
        // Empty outer payload.
        assert!(decapsulate(&packet(&lma(), &mag(), proto::IPV6, &[])).is_err());
        // A chain that does not belong to the packet is checked, not trusted.
        let mut chain = ext::walk(&p).unwrap();
        assert_eq!(decapsulate_walked(&p, &chain).unwrap().inner_offset, 40);
        chain.upper_offset = usize::MAX;
        assert!(decapsulate_walked(&p, &chain).is_err());
        chain.upper_offset = 41;
        assert!(decapsulate_walked(&p, &chain).is_err());
    }
}
