//! The Type 2 Routing Header (RFC 6275 §6.4) and the uplink rewrite that inserts one:
//! MN2 → home address becomes MN2 → care-of address with the home address in an RH2
//! (RFC 6275 §9.3.2, draft-cui-netext-route-optimization-agent-ext §4.1.2).

use core::net::Ipv6Addr;

use crate::addr;
use crate::ext::{self, Chain};
use crate::ipv6::{self, get_u8, proto, Header, HEADER_LEN};
use crate::nd;
use crate::{Error, Result};

/// Bytes of a Type 2 Routing Header, and so the bytes `insert` adds.
pub const LEN: usize = 24;
pub const ROUTING_TYPE: u8 = 2;
/// Hdr Ext Len of a Type 2 Routing Header: (24 / 8) - 1.
pub const HDR_EXT_LEN: u8 = 2;

const LAYER: &str = "rh2";

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Next Header  | Hdr Ext Len=2 | Routing Type=2|Segments Left=1|
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                            Reserved                           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// +                         Home Address                          +
// |                           (16 bytes)                          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
mod field {
    use core::ops::Range;
    pub const NEXT_HEADER: usize = 0;
    pub const HDR_EXT_LEN: usize = 1;
    pub const ROUTING_TYPE: usize = 2;
    pub const SEGMENTS_LEFT: usize = 3;
    pub const RESERVED: Range<usize> = 4..8;
    pub const HOME_ADDRESS: Range<usize> = 8..24;
}

/// A view of a Type 2 Routing Header. `new_checked` guarantees 24 bytes, Hdr Ext Len 2,
/// Routing Type 2 and Segments Left 0 or 1 (RFC 6275 §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Type2<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Type2<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < LEN {
            return Err(Error::Truncated { layer: LAYER, required: LEN, len: b.len() });
        }
        if b[field::ROUTING_TYPE] != ROUTING_TYPE {
            return Err(Error::Malformed { layer: LAYER, what: "routing type" });
        }
        if b[field::HDR_EXT_LEN] != HDR_EXT_LEN {
            return Err(Error::Malformed { layer: LAYER, what: "header length" });
        }
        if b[field::SEGMENTS_LEFT] > 1 {
            return Err(Error::Malformed { layer: LAYER, what: "segments left" });
        }
        Ok(Type2 { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    pub fn header_len(&self) -> u8 {
        self.buffer.as_ref()[field::HDR_EXT_LEN]
    }

    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[field::ROUTING_TYPE]
    }

    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[field::SEGMENTS_LEFT]
    }

    pub fn home_address(&self) -> Ipv6Addr {
        ipv6::addr(&self.buffer.as_ref()[field::HOME_ADDRESS])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Type2<T> {
    pub fn set_next_header(&mut self, nh: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = nh;
    }

    /// Values above 1 are clamped to 1 so the view stays valid.
    pub fn set_segments_left(&mut self, sl: u8) {
        self.buffer.as_mut()[field::SEGMENTS_LEFT] = sl.min(1);
    }

    pub fn set_home_address(&mut self, home: &Ipv6Addr) {
        self.buffer.as_mut()[field::HOME_ADDRESS].copy_from_slice(&home.octets());
    }
}

/// A Type 2 Routing Header as values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub next_header: u8,
    pub segments_left: u8,
    pub home_address: Ipv6Addr,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(h: &Type2<T>) -> Result<Repr> {
        Ok(Repr { next_header: h.next_header(), segments_left: h.segments_left(), home_address: h.home_address() })
    }

    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let len = buf.len();
        let b = buf.first_chunk_mut().ok_or(Error::NoRoom { layer: LAYER, required: LEN, len })?;
        write(b, self.next_header, self.segments_left.min(1), &self.home_address.octets());
        Ok(())
    }
}

/// The one writer of RH2 bytes, for `Repr::emit` and the worker's one-pass rewrite
/// (`tunnel::encapsulate_with_rh2`).
#[inline(always)]
pub(crate) fn write(b: &mut [u8; LEN], next_header: u8, segments_left: u8, home: &[u8; 16]) {
    b[field::NEXT_HEADER] = next_header;
    b[field::HDR_EXT_LEN] = HDR_EXT_LEN;
    b[field::ROUTING_TYPE] = ROUTING_TYPE;
    b[field::SEGMENTS_LEFT] = segments_left;
    b[field::RESERVED].fill(0);
    b[field::HOME_ADDRESS].copy_from_slice(home);
}

/// Writes a Type 2 Routing Header with Segments Left 1 into `buf[..24]`.
pub fn emit(buf: &mut [u8], next_header: u8, home: &Ipv6Addr) -> Result<()> {
    Repr { next_header, segments_left: 1, home_address: *home }.emit(buf)
}

/// The checks of [`insert`] without the rewrite: `Ok` with the chain when an RH2 may be
/// inserted into `ipv6_packet`. Refuses (Malformed) a packet that already has a routing
/// header, a link-local or multicast destination (RFC 6275 §9.3.2), Neighbor Discovery
/// (ICMPv6 133–137) or a Mobility Header (the reflector builds its own BA), or a payload
/// length that would pass 65535; `ChainTooLong` when the chain is already
/// [`ext::MAX_HEADERS`] long (the result would not re-parse).
#[inline] // worker hot path (cross-crate)
pub fn insertable(ipv6_packet: &[u8]) -> Result<Chain> {
    let h = Header::new_checked(ipv6_packet)?;
    // Most packets have no extension header: the chain `walk` would return is then known
    // without walking (worker hot path; the same result, see the test below).
    let chain = if ext::is_walked(h.next_header()) {
        ext::walk(ipv6_packet)?
    } else {
        Chain { upper_proto: h.next_header(), upper_offset: HEADER_LEN, insert_offset: HEADER_LEN, ..Chain::default() }
    };
    if chain.routing.is_some() {
        return Err(Error::Malformed { layer: LAYER, what: "routing header already present" });
    }
    // The result must still pass `walk`.
    if usize::from(chain.headers) >= ext::MAX_HEADERS {
        return Err(Error::ChainTooLong);
    }
    let dst = h.dst_addr();
    if addr::is_link_local(&dst) || addr::is_multicast(&dst) {
        return Err(Error::Malformed { layer: LAYER, what: "link-local or multicast destination" });
    }
    match chain.upper_proto {
        proto::MOBILITY => {
            return Err(Error::Malformed { layer: LAYER, what: "mobility header" });
        }
        proto::ICMPV6 if !chain.is_non_first_fragment() && get_u8(ipv6_packet, chain.upper_offset).is_some_and(nd::is_nd_type) => {
            return Err(Error::Malformed { layer: LAYER, what: "neighbor discovery" });
        }
        _ => {}
    }
    if usize::from(h.payload_len()) + LEN > usize::from(u16::MAX) {
        return Err(Error::Malformed { layer: LAYER, what: "payload length overflow" });
    }
    Ok(chain)
}

/// [`insertable`] for the common packet, without a walk (worker hot path): true when an RH2
/// can go right after the IPv6 header with nothing to check further: no extension header,
/// not a Mobility Header or Neighbor Discovery (RFC 6275 §9.3.2), and room in the payload
/// length. `first_payload_byte` is the byte after the IPv6 header (the ICMPv6 type). The
/// caller has already refused link-local and multicast destinations. False sends the packet
/// to [`insert`], which walks the chain; a test holds that true implies `insertable`.
#[inline(always)]
pub fn insertable_plain(ip: &ipv6::Fixed, first_payload_byte: Option<u8>) -> bool {
    let nh = ip.next_header;
    !ext::is_walked(nh)
        && nh != proto::MOBILITY
        && !(nh == proto::ICMPV6 && first_payload_byte.is_some_and(nd::is_nd_type))
        && ip.payload_len + LEN <= usize::from(u16::MAX)
}

/// The uplink rewrite. `buf` = [24 free bytes][`l2_len` bytes of link header][IPv6
/// packet]. On success `buf` = [link header][IPv6 packet with an RH2 right after the IPv6
/// header and any Hop-by-Hop header (RFC 8200 §4.1)], 24 bytes longer, starting at
/// `buf[0]`: home address := the old destination, destination := `care_of`, payload
/// length += 24. Upper-layer checksums stay valid: their pseudo-header uses the final
/// destination, the home address in the RH2 (RFC 8200 §8.1). Any link padding after the
/// packet stays at the end of `buf`. Refusals are those of [`insertable`]; on error `buf`
/// is unchanged.
#[inline] // worker hot path (cross-crate)
pub fn insert(buf: &mut [u8], l2_len: usize, care_of: &Ipv6Addr) -> Result<()> {
    let start = LEN.checked_add(l2_len).ok_or(Error::Malformed { layer: LAYER, what: "link header length" })?;
    let len = buf.len();
    let pkt = buf.get(start..).ok_or(Error::Truncated { layer: LAYER, required: start.saturating_add(HEADER_LEN), len })?;
    let chain = insertable(pkt)?;
    let h = Header::new_checked(pkt)?;
    let home = h.dst_addr();
    let new_payload_len = h.payload_len().saturating_add(LEN as u16);
    // The Next Header byte that names what follows the insertion point.
    let prev_nh = if chain.hop_by_hop { HEADER_LEN } else { ipv6::field::NEXT_HEADER };
    let old_next = get_u8(pkt, prev_nh).unwrap_or(proto::NO_NEXT);
    let ins = chain.insert_offset;

    // `walk` proved `ins <= total_len <= pkt.len()`, so every range below is in bounds.
    // Link header and the headers before the insertion point move 24 bytes to the front;
    // the 24 bytes they leave behind become the RH2.
    buf.copy_within(LEN..start + ins, 0);
    let pkt = &mut buf[l2_len..];
    emit(&mut pkt[ins..ins + LEN], old_next, &home)?;
    pkt[prev_nh] = proto::ROUTING;
    let mut h = Header::new_checked(&mut pkt[..])?;
    h.set_payload_len(new_payload_len);
    h.set_dst_addr(care_of);
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn insertable_fast_path_equals_the_walk() {
        for nh in [proto::UDP, proto::TCP, proto::ICMPV6, proto::NO_NEXT, proto::IPV6, 99] {
            let p = packet(&mn2(), &hoa(), nh, &[128, 0, 0, 0, 0, 0, 0, 0]);
            let walked = ext::walk(&p).unwrap();
            match insertable(&p) {
                Ok(c) => assert_eq!(c, walked, "next header {nh}"),
                Err(_) => assert_eq!(nh, proto::ICMPV6),
            }
        }
    }
    /// What `insertable_plain` takes, `insertable` takes with the chain it implies; what it
    /// leaves (extension headers, Mobility Header, ND, a full payload length) goes to the walk.
    #[test]
    fn insertable_plain_implies_insertable() {
        let echo = [128, 0, 0, 0, 0, 1, 0, 1];
        let fixed = |p: &[u8]| ipv6::Fixed::parse(p).unwrap();
        for (nh, payload) in [
            (proto::UDP, udp(&mn2(), &hoa(), &[0; 30])),
            (proto::UDP, udp(&mn2(), &hoa(), &[])),
            (proto::TCP, vec![7; 20]),
            (proto::ICMPV6, echo.to_vec()),
            (proto::NO_NEXT, vec![]),
        ] {
            let p = packet(&mn2(), &hoa(), nh, &payload);
            assert!(insertable_plain(&fixed(&p), p.get(HEADER_LEN).copied()), "next header {nh}");
            let chain = insertable(&p).unwrap();
            assert_eq!((chain.headers, chain.insert_offset, chain.upper_proto), (0, HEADER_LEN, nh));
        }
        for (nh, first) in [(proto::HOP_BY_HOP, 0u8), (proto::DEST_OPTS, 0), (proto::ROUTING, 0), (proto::MOBILITY, 59), (proto::ICMPV6, 135)] {
            let p = packet(&mn2(), &hoa(), nh, &[first, 0, 0, 0, 0, 0, 0, 0]);
            assert!(!insertable_plain(&fixed(&p), Some(first)), "next header {nh}");
        }
        for t in 133..=137 {
            let p = packet(&mn2(), &hoa(), proto::ICMPV6, &[t, 0, 0, 0, 0, 0, 0, 0]);
            assert!(!insertable_plain(&fixed(&p), Some(t)), "ND type {t}");
            assert!(insertable(&p).is_err());
        }
        let at = |len: usize| ipv6::Fixed { payload_len: len, ..fixed(&packet(&mn2(), &hoa(), proto::UDP, &[])) };
        assert!(insertable_plain(&at(65511), Some(0)));
        assert!(!insertable_plain(&at(65512), Some(0)));
    }

    use crate::checksum;
    use crate::ext::tests::{frag_bytes, opts_header, packet, rh2_bytes};
    use crate::ipv6::tests::a;

    const ETH: [u8; 14] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];

    fn mn2() -> Ipv6Addr {
        a("2001:db8:3::300")
    }
    fn hoa() -> Ipv6Addr {
        a("2001:db8:1::100")
    }
    fn coa() -> Ipv6Addr {
        a("2001:db8:2::200")
    }

    /// A UDP datagram 12345 → 443 with its checksum computed for (src, dst).
    pub fn udp(src: &Ipv6Addr, dst: &Ipv6Addr, payload: &[u8]) -> Vec<u8> {
        crate::testpkt::udp(*src, *dst, 12345, 443, payload)
    }

    #[test]
    fn view_and_repr_round_trip() {
        let bytes = rh2_bytes(proto::UDP, 1, &hoa());
        let v = Type2::new_checked(&bytes[..]).unwrap();
        assert_eq!((v.next_header(), v.header_len(), v.routing_type(), v.segments_left()), (17, 2, 2, 1));
        assert_eq!(v.home_address(), hoa());
        let r = Repr::parse(&v).unwrap();
        assert_eq!(r, Repr { next_header: 17, segments_left: 1, home_address: hoa() });
        let mut out = [0xffu8; 24];
        r.emit(&mut out).unwrap();
        assert_eq!(out[..], bytes[..]);
        let mut out2 = [0xffu8; 24];
        emit(&mut out2, 17, &hoa()).unwrap();
        assert_eq!(out, out2);
        assert_eq!(r.buffer_len(), LEN);
        assert!(emit(&mut out[..23], 17, &hoa()).is_err());

        let mut v = Type2::new_checked(&mut out[..]).unwrap();
        v.set_segments_left(7);
        v.set_next_header(6);
        v.set_home_address(&coa());
        assert_eq!((v.segments_left(), v.next_header(), v.home_address()), (1, 6, coa()));

        for n in 0..24 {
            assert_eq!(Type2::new_checked(&bytes[..n]).unwrap_err().reason(), "truncated");
        }
        for (i, v, what) in [(1, 4, "header length"), (2, 0, "routing type"), (3, 2, "segments left")] {
            let mut b = bytes.clone();
            b[i] = v;
            assert_eq!(Type2::new_checked(&b[..]), Err(Error::Malformed { layer: "rh2", what }));
        }
    }

    #[test]
    fn insert_keeps_udp_checksum_valid() {
        let payload = b"route optimized";
        let u = udp(&mn2(), &hoa(), payload);
        let pkt = packet(&mn2(), &hoa(), proto::UDP, &u);
        let mut buf = [vec![0u8; LEN], ETH.to_vec(), pkt.clone(), vec![0; 3]].concat();
        insert(&mut buf, 14, &coa()).unwrap();

        assert_eq!(buf[..14], ETH);
        let out = &buf[14..];
        let h = Header::new_checked(out).unwrap();
        assert_eq!(h.dst_addr(), coa());
        assert_eq!(h.src_addr(), mn2());
        assert_eq!(h.next_header(), proto::ROUTING);
        assert_eq!(usize::from(h.payload_len()), u.len() + 24);
        assert_eq!(h.hop_limit(), 64);
        let c = ext::walk(out).unwrap();
        let r = c.routing.unwrap();
        assert_eq!((r.offset, r.routing_type, r.segments_left, r.home_address), (40, 2, 1, Some(hoa())));
        assert_eq!((c.upper_proto, c.upper_offset), (proto::UDP, 64));
        let udp_out = &out[64..h.total_len()];
        assert_eq!(udp_out, &u[..]);
        assert!(checksum::verify_upper_layer(&mn2(), &hoa(), proto::UDP, udp_out));
        let (ps, pd) = c.pseudo_header_addrs(&h.src_addr(), &h.dst_addr());
        assert!(checksum::verify_upper_layer(&ps, &pd, proto::UDP, udp_out));
        // Exact bytes of the inserted header, and the padding still at the end.
        assert_eq!(out[40..64], rh2_bytes(proto::UDP, 1, &hoa())[..]);
        assert_eq!(buf[buf.len() - 3..], [0, 0, 0]);
    }

    #[test]
    fn insert_after_hop_by_hop_and_before_fragment() {
        let u = udp(&mn2(), &hoa(), b"x");
        let hbh = opts_header(proto::FRAGMENT, &[]);
        let body = [&hbh[..], &frag_bytes(proto::UDP, 0, false, 9), &u].concat();
        let pkt = packet(&mn2(), &hoa(), proto::HOP_BY_HOP, &body);
        let mut buf = [vec![0u8; LEN], pkt.clone()].concat();
        insert(&mut buf, 0, &coa()).unwrap();
        let c = ext::walk(&buf).unwrap();
        assert!(c.hop_by_hop);
        assert_eq!(buf[6], proto::HOP_BY_HOP);
        assert_eq!(buf[40], proto::ROUTING);
        assert_eq!(c.routing.unwrap().offset, 48);
        assert_eq!(c.fragment.unwrap().offset, 72);
        assert_eq!((c.upper_proto, c.upper_offset), (proto::UDP, 80));
        assert!(checksum::verify_upper_layer(&mn2(), &hoa(), proto::UDP, &buf[80..]));

        // A later fragment gets the RH2 too (it is in the unfragmentable part).
        let body = [&frag_bytes(proto::UDP, 100, false, 9)[..], &[1, 2, 3, 4]].concat();
        let mut buf = [vec![0u8; LEN], packet(&mn2(), &hoa(), proto::FRAGMENT, &body)].concat();
        insert(&mut buf, 0, &coa()).unwrap();
        let c = ext::walk(&buf).unwrap();
        assert_eq!(c.routing.unwrap().home_address, Some(hoa()));
        assert!(c.is_non_first_fragment());
    }

    fn assert_refused(pkt: &[u8], what: &'static str) {
        let mut buf = [vec![0xaa; LEN], ETH.to_vec(), pkt.to_vec()].concat();
        let before = buf.clone();
        assert_eq!(insert(&mut buf, 14, &coa()), Err(Error::Malformed { layer: "rh2", what }));
        assert_eq!(buf, before);
    }

    #[test]
    fn insert_refusals() {
        let u = udp(&mn2(), &hoa(), b"x");
        let body = [&rh2_bytes(proto::UDP, 1, &hoa())[..], &u].concat();
        assert_refused(&packet(&mn2(), &coa(), proto::ROUTING, &body), "routing header already present");
        assert_refused(&packet(&mn2(), &a("fe80::1"), proto::UDP, &u), "link-local or multicast destination");
        assert_refused(&packet(&mn2(), &a("ff0e::1"), proto::UDP, &u), "link-local or multicast destination");
        for t in 133..=137 {
            assert_refused(&packet(&mn2(), &hoa(), proto::ICMPV6, &[t, 0, 0, 0, 0, 0, 0, 0]), "neighbor discovery");
        }
        assert_refused(&packet(&mn2(), &hoa(), proto::MOBILITY, &[59, 0, 6, 0, 0, 0, 0, 0]), "mobility header");
        // Echo is fine.
        let mut buf = [vec![0; LEN], packet(&mn2(), &hoa(), proto::ICMPV6, &[128, 0, 0, 0, 0, 0, 0, 0])].concat();
        assert!(insert(&mut buf, 0, &coa()).is_ok());

        // payload_len 65512 + 24 > 65535.
        let big = packet(&mn2(), &hoa(), proto::NO_NEXT, &vec![0; 65512]);
        assert_refused(&big, "payload length overflow");
        // A chain already at the limit.
        let mut body = Vec::new();
        for i in 0..ext::MAX_HEADERS {
            let next = if i + 1 == ext::MAX_HEADERS { proto::UDP } else { proto::DEST_OPTS };
            body.extend(opts_header(next, &[]));
        }
        body.extend(u.clone());
        let mut buf = [vec![0; LEN], packet(&mn2(), &hoa(), proto::DEST_OPTS, &body)].concat();
        assert_eq!(insert(&mut buf, 0, &coa()), Err(Error::ChainTooLong));

        let ok = packet(&mn2(), &hoa(), proto::NO_NEXT, &vec![0; 65511]);
        let mut buf = [vec![0; LEN], ok].concat();
        insert(&mut buf, 0, &coa()).unwrap();
        assert_eq!(Header::new_checked(&buf[..]).unwrap().payload_len(), 65535);
    }

    #[test]
    fn insert_truncated_at_every_length() {
        let pkt = packet(&mn2(), &hoa(), proto::UDP, &udp(&mn2(), &hoa(), b"abc"));
        let full = [vec![0x55; LEN], ETH.to_vec(), pkt].concat();
        for n in 0..full.len() {
            let mut b = full[..n].to_vec();
            assert!(insert(&mut b, 14, &coa()).is_err(), "len {n}");
            assert_eq!(b, full[..n]);
        }
        let mut b = full.clone();
        assert!(insert(&mut b, usize::MAX, &coa()).is_err());
        assert!(insert(&mut b, usize::MAX - 23, &coa()).is_err());
        assert_eq!(b, full);
    }
}
