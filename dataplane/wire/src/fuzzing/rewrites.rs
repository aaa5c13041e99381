//! Target `wire_rewrites`: the uplink and downlink rewrites with their round-trip
//! invariants. Input: byte 0 = link header length (mod 19), byte 1 bit 0 = take the
//! care-of address from bytes 2..18 (else a fixed one), then the IPv6 packet. Before the
//! rewrites the packet's upper-layer checksum is made valid (when it has one in reach), so
//! "the checksum still verifies afterwards" is checked on every input that gets that far.

use core::net::Ipv6Addr;

use crate::addr;
use crate::checksum;
use crate::ext::{self, Chain};
use crate::ipv6::{self, proto, HEADER_LEN};
use crate::{hao, rh2, tunnel};

const TUNNEL_SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc0, 0, 0, 0, 0, 1);
const TUNNEL_DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc0, 0, 0, 0, 0, 2);

pub fn rewrites(data: &[u8]) {
    let Some((&[l2, flags], rest)) = data.split_first_chunk::<2>() else { return };
    let l2_len = usize::from(l2 % 19);
    let (care_of, pkt) = match rest.split_first_chunk::<16>() {
        Some((a, p)) if flags & 1 == 1 => (Ipv6Addr::from(*a), p),
        _ => (Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x200), rest),
    };
    let mut pkt = pkt.to_vec();
    let valid = fix_checksum(&mut pkt);
    let link: Vec<u8> = (0..l2_len as u8).map(|i| 0xa0 ^ i).collect();
    rh2_insert(&pkt, &link, &care_of, valid);
    rh2_one_pass(&pkt, &link, &care_of);
    hao_strip(&pkt, &link, valid);
    encapsulate(&pkt);
}

/// Offset of the checksum field in an upper-layer header (RFC 768, RFC 9293, RFC 4443 §2.3,
/// RFC 6275 §6.1.1).
fn checksum_field(upper_proto: u8) -> Option<usize> {
    match upper_proto {
        proto::UDP => Some(6),
        proto::TCP => Some(16),
        proto::ICMPV6 => Some(2),
        proto::MOBILITY => Some(4),
        _ => None,
    }
}

/// The upper layer of an unfragmented packet whose checksum field is in the packet:
/// its protocol, range and checksum field offset.
fn upper_layer(pkt: &[u8]) -> Option<(Chain, core::ops::Range<usize>, usize)> {
    let c = ext::walk(pkt).ok()?;
    if c.fragment.is_some() {
        return None;
    }
    let total = ipv6::Header::new_checked(pkt).ok()?.total_len();
    let field = c.upper_offset + checksum_field(c.upper_proto)?;
    (field + 2 <= total).then_some((c, c.upper_offset..total, field))
}

/// True when the upper-layer checksum verifies over the pseudo-header the packet's final addresses make
/// (RFC 8200 §8.1, RFC 6275 §6.3, §6.4).
pub fn checksum_ok(pkt: &[u8]) -> bool {
    let Some((c, range, _)) = upper_layer(pkt) else { return false };
    let h = ipv6::Header::new_checked(pkt).expect("walked");
    let (s, d) = c.pseudo_header_addrs(&h.src_addr(), &h.dst_addr());
    checksum::verify_upper_layer(&s, &d, c.upper_proto, &pkt[range])
}

/// Makes the upper-layer checksum valid; false if the packet has none in reach.
pub fn fix_checksum(pkt: &mut [u8]) -> bool {
    let Some((c, range, field)) = upper_layer(pkt) else { return false };
    let h = ipv6::Header::new_checked(&*pkt).expect("walked");
    let (s, d) = c.pseudo_header_addrs(&h.src_addr(), &h.dst_addr());
    pkt[field..field + 2].fill(0);
    let sum = checksum::upper_layer(&s, &d, c.upper_proto, &pkt[range]);
    pkt[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    assert!(checksum_ok(pkt));
    true
}

/// The bytes from the upper layer to the end of the packet.
fn upper_bytes(pkt: &[u8]) -> &[u8] {
    let c = ext::walk(pkt).expect("walks");
    &pkt[c.upper_offset..ipv6::Header::new_checked(pkt).expect("walks").total_len()]
}

/// `rh2::insert` (RFC 6275 §6.4): on success the packet parses again, with the RH2 holding
/// the old destination, 24 more bytes of payload length, the upper layer untouched and its
/// checksum still valid; on refusal the buffer is unchanged.
fn rh2_insert(pkt: &[u8], link: &[u8], care_of: &Ipv6Addr, valid: bool) {
    let l2_len = link.len();
    let mut buf = [&[0u8; rh2::LEN][..], link, pkt].concat();
    let before = buf.clone();
    let r = rh2::insert(&mut buf, l2_len, care_of);
    assert_eq!(r.is_ok(), rh2::insertable(pkt).is_ok(), "rh2::insert and rh2::insertable disagree");
    if r.is_err() {
        assert_eq!(buf, before, "a refused rh2::insert changed the buffer");
        return;
    }
    assert_eq!(&buf[..l2_len], link, "link header moved with the packet");
    let out = &buf[l2_len..];
    let old = ipv6::Header::new_checked(pkt).expect("insert accepted it");
    let new = ipv6::Header::new_checked(out).expect("rh2::insert output parses");
    assert_eq!(usize::from(new.payload_len()), usize::from(old.payload_len()) + rh2::LEN, "payload length");
    assert_eq!(new.total_len(), old.total_len() + rh2::LEN);
    assert_eq!(new.dst_addr(), *care_of);
    assert_eq!(new.src_addr(), old.src_addr());
    let c = ext::walk(out).expect("rh2::insert output walks");
    let routing = c.routing.expect("routing header present");
    assert_eq!((routing.routing_type, routing.segments_left, routing.home_address), (2, 1, Some(old.dst_addr())));
    assert_eq!(routing.offset, ext::walk(pkt).expect("walked").insert_offset);
    assert_eq!(c.upper_proto, ext::walk(pkt).expect("walked").upper_proto);
    assert_eq!(upper_bytes(out), upper_bytes(pkt), "upper layer changed");
    assert_eq!(&out[new.total_len()..], &pkt[old.total_len()..], "link padding changed");
    if valid {
        assert!(checksum_ok(out), "upper-layer checksum broken by rh2::insert");
    }
}

/// The worker's one-pass RH2 + tunnel (`tunnel::encapsulate_with_rh2`) gives the bytes of
/// the general path for every packet `rh2::insertable_plain` takes.
fn rh2_one_pass(pkt: &[u8], link: &[u8], care_of: &Ipv6Addr) {
    let Some(ip) = ipv6::Fixed::parse(pkt) else { return };
    if addr::is_link_local_u128(ip.dst) || addr::is_multicast_u128(ip.dst) || !rh2::insertable_plain(&ip, pkt.get(HEADER_LEN).copied()) {
        return;
    }
    let chain = rh2::insertable(pkt).expect("insertable_plain implies insertable");
    assert_eq!((chain.headers, chain.insert_offset), (0, HEADER_LEN));
    let l2_len = link.len();
    let mut fast = [&[0u8; tunnel::OUTER_WITH_RH2_LEN][..], link, pkt].concat();
    tunnel::encapsulate_with_rh2(&mut fast, l2_len, &ip, &care_of.octets(), &TUNNEL_SRC.octets(), &TUNNEL_DST.octets(), 64).expect("room for it");

    let mut general = [&[0u8; rh2::LEN][..], link, pkt].concat();
    rh2::insert(&mut general, l2_len, care_of).expect("insertable");
    general[l2_len + 7] = general[l2_len + 7].wrapping_sub(1);
    let mut outer = [&[0u8; tunnel::OUTER_LEN][..], &general[l2_len..]].concat();
    tunnel::encapsulate(&mut outer, &TUNNEL_SRC, &TUNNEL_DST, 64).expect("inner fits");
    assert_eq!(&fast[l2_len..], &outer[..], "encapsulate_with_rh2 differs from rh2::insert + tunnel::encapsulate");
}

/// `hao::strip` (RFC 6275 §9.3.1): on success source := the home address, no Home Address
/// option left, the upper layer untouched and its checksum still valid; on refusal the
/// buffer is unchanged. The fast path (`hao::canonical` + `strip_canonical`) gives the
/// same bytes whenever it applies.
fn hao_strip(pkt: &[u8], link: &[u8], valid: bool) {
    let l2_len = link.len();
    let canonical = ipv6::Fixed::parse(pkt).and_then(|ip| hao::canonical(&[link, pkt].concat(), l2_len, &ip));
    let Ok(chain) = ext::walk(pkt) else {
        assert!(canonical.is_none(), "hao::canonical took a packet whose chain does not walk");
        return;
    };
    let mut buf = [link, pkt].concat();
    let before = buf.clone();
    let s = match hao::strip(&mut buf, l2_len, &chain) {
        Ok(s) => s,
        Err(_) => {
            assert_eq!(buf, before, "a refused hao::strip changed the buffer");
            assert!(canonical.is_none(), "hao::canonical took a packet hao::strip refuses");
            return;
        }
    };
    let old = ipv6::Header::new_checked(pkt).expect("strip accepted it");
    let opt = chain.home_address.expect("strip needs the option");
    assert_eq!((s.home, s.care_of), (opt.home, old.src_addr()));
    assert!(s.removed == 0 || s.removed == opt.header_len);
    let out = &buf[s.removed..];
    assert_eq!(&out[..l2_len], link, "link header moved with the packet");
    let out = &out[l2_len..];
    let new = ipv6::Header::new_checked(out).expect("hao::strip output parses");
    assert_eq!(new.src_addr(), s.home);
    assert_eq!(new.dst_addr(), old.dst_addr());
    assert_eq!(new.total_len() + s.removed, old.total_len(), "payload length");
    let c = ext::walk(out).expect("hao::strip output walks");
    assert_eq!(c.home_address, None, "home address option left");
    assert_eq!(c.upper_proto, chain.upper_proto);
    if chain.fragment.is_none() {
        assert_eq!(upper_bytes(out), upper_bytes(pkt), "upper layer changed");
    }
    if valid {
        assert!(checksum_ok(out), "upper-layer checksum broken by hao::strip");
    }
    if let Some(c) = canonical {
        assert_eq!(s.removed, hao::DEST_OPTS_LEN, "canonical layout not removed whole");
        let mut fast = [link, pkt].concat();
        hao::strip_canonical(&mut fast, l2_len, &c).expect("room");
        assert_eq!(&fast[l2_len + hao::DEST_OPTS_LEN..], &buf[l2_len + hao::DEST_OPTS_LEN..], "strip_canonical differs from strip");
    }
}

/// `tunnel::encapsulate` (RFC 2473 §3): the result decapsulates to the packet unchanged.
fn encapsulate(pkt: &[u8]) {
    let mut buf = [&[0u8; tunnel::OUTER_LEN][..], pkt].concat();
    let before = buf.clone();
    match tunnel::encapsulate(&mut buf, &TUNNEL_SRC, &TUNNEL_DST, 64) {
        Ok(()) => {
            let d = tunnel::decapsulate(&buf).expect("an encapsulated packet decapsulates");
            let inner = ipv6::Header::new_checked(pkt).expect("encapsulate checked it");
            assert_eq!((d.inner_offset, d.inner_len, d.outer_src, d.outer_dst), (tunnel::OUTER_LEN, inner.total_len(), TUNNEL_SRC, TUNNEL_DST));
            assert_eq!(&buf[tunnel::OUTER_LEN..], pkt, "inner packet changed");
        }
        Err(_) => assert_eq!(buf, before, "a refused tunnel::encapsulate changed the buffer"),
    }
}
