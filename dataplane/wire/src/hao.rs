//! The Home Address destination option (RFC 6275 §6.3) and the downlink rewrite that
//! removes it: MN1 (care-of address) → MN2 with a Home Address option becomes home
//! address → MN2 with no option (RFC 6275 §9.3.1), a packet plain MN2 accepts.

use core::net::Ipv6Addr;

use crate::addr;
use crate::ext::{self, Chain};
use crate::ipv6::{self, get_u8, proto, Header, HEADER_LEN};
use crate::{Error, Result};

pub const OPTION_TYPE: u8 = 201;
/// Option Length of a Home Address option.
pub const OPTION_DATA_LEN: u8 = 16;
/// Bytes of the option with its type and length bytes.
pub const OPTION_LEN: usize = 18;
/// Bytes of the Destination Options header [`emit_dest_opts`] writes.
pub const DEST_OPTS_LEN: usize = 24;

const LAYER: &str = "hao";

// Destination Options header as emitted (RFC 6275 §6.3: the option is aligned 8n+6):
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Next Header  | Hdr Ext Len=2 |   PadN (1)    |  PadN len=2   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |       0       |       0       |  Type = 201   |  Length = 16  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                     Home Address (16 bytes)                   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
mod field {
    use core::ops::Range;
    pub const NEXT_HEADER: usize = 0;
    pub const HDR_EXT_LEN: usize = 1;
    pub const PADN: Range<usize> = 2..6;
    pub const OPTION_TYPE: usize = 6;
    pub const OPTION_LEN: usize = 7;
    pub const HOME_ADDRESS: Range<usize> = 8..24;
}

/// Writes a 24-byte Destination Options header holding only a Home Address option into
/// `buf` and returns its length.
pub fn emit_dest_opts(buf: &mut [u8], next_header: u8, home: &Ipv6Addr) -> Result<usize> {
    let len = buf.len();
    let b = buf.get_mut(..DEST_OPTS_LEN).ok_or(Error::NoRoom { layer: LAYER, required: DEST_OPTS_LEN, len })?;
    b[field::NEXT_HEADER] = next_header;
    b[field::HDR_EXT_LEN] = (DEST_OPTS_LEN / 8 - 1) as u8;
    b[field::PADN].copy_from_slice(&[ext::option::PADN, 2, 0, 0]);
    b[field::OPTION_TYPE] = OPTION_TYPE;
    b[field::OPTION_LEN] = OPTION_DATA_LEN;
    b[field::HOME_ADDRESS].copy_from_slice(&home.octets());
    Ok(DEST_OPTS_LEN)
}

/// What [`strip`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stripped {
    /// Bytes the caller must trim from the front of the buffer (0 or the length of the
    /// removed Destination Options header).
    pub removed: usize,
    pub home: Ipv6Addr,
    /// The source address before the rewrite.
    pub care_of: Ipv6Addr,
}

fn malformed(what: &'static str) -> Error {
    Error::Malformed { layer: LAYER, what }
}

/// The downlink rewrite. `buf` = [`l2_len` bytes of link header][IPv6 packet] and `chain`
/// = `ext::walk` of that packet. Source := the home address. If the Destination Options
/// header holds nothing but the option and padding, the whole header goes: everything
/// before it (link header included) moves toward the end by its length, the preceding
/// Next Header and the payload length are fixed, and `removed` says how many bytes to trim
/// from the front. Otherwise the 18 option bytes become a PadN of the same size
/// (`removed` = 0).
///
/// Upper-layer checksums stay valid: MN1 computed them with the home address as source
/// (RFC 6275 §6.3), which is now the real source. Refused: no option in `chain`, a chain
/// that does not match the bytes, an option after a Fragment header (only the first
/// fragment would carry it), a home address that is not unicast routable (RFC 6275
/// §9.3.1). On error `buf` is unchanged. Whether the binding allows the rewrite is the
/// caller's decision (RFC 6275 §9.3.1). An AH covering the option would no longer verify.
#[inline] // worker hot path (cross-crate)
pub fn strip(buf: &mut [u8], l2_len: usize, chain: &Chain) -> Result<Stripped> {
    let len = buf.len();
    let pkt = buf.get(l2_len..).ok_or(Error::Truncated { layer: LAYER, required: l2_len.saturating_add(HEADER_LEN), len })?;
    let h = Header::new_checked(pkt)?;
    let hao = chain.home_address.ok_or(malformed("no home address option"))?;

    // The chain is the caller's: check it against the bytes before touching anything.
    let hdr_end = hao.header_offset.checked_add(hao.header_len).filter(|e| *e <= h.total_len()).ok_or(malformed("chain does not match packet"))?;
    let opt_end = hao.option_offset.saturating_add(OPTION_LEN);
    let prev_ok = hao.prev_next_header_offset == ipv6::field::NEXT_HEADER
        || (hao.prev_next_header_offset >= HEADER_LEN && hao.prev_next_header_offset < hao.header_offset);
    if hao.header_offset < HEADER_LEN
        || hao.header_len < 8
        || hao.header_len % 8 != 0
        || hao.option_offset < hao.header_offset + 2
        || opt_end > hdr_end
        || !prev_ok
        || get_u8(pkt, hao.prev_next_header_offset) != Some(proto::DEST_OPTS)
        || get_u8(pkt, hao.option_offset) != Some(OPTION_TYPE)
        || get_u8(pkt, hao.option_offset + 1) != Some(OPTION_DATA_LEN)
        || usize::from(h.payload_len()) < hdr_end - HEADER_LEN
    {
        return Err(malformed("chain does not match packet"));
    }
    if matches!(chain.fragment, Some(f) if f.offset < hao.header_offset) {
        // RFC 6275 §6.3: the option precedes the Fragment header.
        return Err(malformed("home address option after fragment header"));
    }
    let home = ipv6::get_addr(pkt, hao.option_offset + 2).ok_or(malformed("chain does not match packet"))?;
    if !addr::is_routable_unicast(&home) {
        return Err(malformed("home address not unicast routable"));
    }
    let care_of = h.src_addr();
    let payload_len = h.payload_len();
    let next_after = get_u8(pkt, hao.header_offset).unwrap_or(proto::NO_NEXT);

    // Every offset used below was checked above against `pkt`, which starts at `l2_len`.
    let pkt = &mut buf[l2_len..];
    let removed = if hao.only_option {
        pkt[hao.prev_next_header_offset] = next_after;
        // `hdr_end - 40 <= payload_len` and `header_len <= hdr_end - 40`.
        let new_len = payload_len.saturating_sub(hao.header_len as u16);
        let mut h = Header::new_checked(&mut pkt[..])?;
        h.set_payload_len(new_len);
        h.set_src_addr(&home);
        buf.copy_within(..l2_len + hao.header_offset, hao.header_len);
        hao.header_len
    } else {
        let opt = &mut pkt[hao.option_offset..opt_end];
        opt.fill(0);
        opt[0] = ext::option::PADN;
        opt[1] = (OPTION_LEN - 2) as u8;
        Header::new_checked(&mut pkt[..])?.set_src_addr(&home);
        0
    };
    Ok(Stripped { removed, home, care_of })
}

/// A Home Address option in the layout [`emit_dest_opts`] writes (MN1's), found by
/// [`canonical`]: what [`strip_canonical`] needs, read once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Canonical {
    /// The home address, a big-endian integer; unicast routable (RFC 6275 §9.3.1).
    pub home: u128,
    word0: [u8; 4],
    /// Payload length after the strip.
    payload_len: u16,
    next_header: u8,
    hop_limit: u8,
    dst: u128,
}

/// The worker's downlink fast path: `Some` when the packet at `buf[l2_len..]` (whose fixed
/// header is `ip`) starts with the 24-byte Destination Options header of
/// [`emit_dest_opts`] (PadN(2), the option at 8n+6) followed directly by the upper layer
/// (not an extension header or a Mobility Header), with a unicast routable home address.
/// Then [`strip`] would remove the whole header, and [`strip_canonical`] does the same in one
/// step. `None`: another layout, for `ext::walk` and [`strip`].
#[inline(always)]
pub fn canonical(buf: &[u8], l2_len: usize, ip: &ipv6::Fixed) -> Option<Canonical> {
    const OPTS: usize = DEST_OPTS_LEN;
    if ip.next_header != proto::DEST_OPTS || ip.payload_len < OPTS {
        return None;
    }
    let h = buf.get(l2_len..)?.first_chunk::<{ HEADER_LEN + OPTS }>()?;
    let o = &h[HEADER_LEN..];
    let next = o[field::NEXT_HEADER];
    if o[field::HDR_EXT_LEN..field::HOME_ADDRESS.start] != [2, ext::option::PADN, 2, 0, 0, OPTION_TYPE, OPTION_DATA_LEN]
        || ext::is_walked(next)
        || next == proto::MOBILITY
    {
        return None;
    }
    let home = u128::from_be_bytes(*o[field::HOME_ADDRESS.start..].first_chunk::<16>()?);
    if !addr::is_routable_unicast_u128(home) {
        return None;
    }
    Some(Canonical {
        home,
        word0: *h.first_chunk::<4>()?,
        payload_len: (ip.payload_len - OPTS) as u16,
        next_header: next,
        hop_limit: ip.hop_limit,
        dst: ip.dst,
    })
}

/// [`strip`] for a packet [`canonical`] found, in one step: the IPv6 header is rebuilt
/// 24 bytes further on (`buf[l2_len + 24..]`) with the home address as source, from the
/// values `c` already holds; the caller trims 24 bytes from the front and rewrites its
/// link header. The same bytes as `strip` (a test compares them).
/// `None`: `buf` is too short, and unchanged.
#[inline(always)]
pub fn strip_canonical(buf: &mut [u8], l2_len: usize, c: &Canonical) -> Option<()> {
    let d = buf.get_mut(l2_len.checked_add(DEST_OPTS_LEN)?..)?.first_chunk_mut::<HEADER_LEN>()?;
    d[ipv6::field::VER_TC_FLOW].copy_from_slice(&c.word0);
    d[ipv6::field::PAYLOAD_LEN].copy_from_slice(&c.payload_len.to_be_bytes());
    d[ipv6::field::NEXT_HEADER] = c.next_header;
    d[ipv6::field::HOP_LIMIT] = c.hop_limit;
    d[ipv6::field::SRC_ADDR].copy_from_slice(&c.home.to_be_bytes());
    d[ipv6::field::DST_ADDR].copy_from_slice(&c.dst.to_be_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum;
    use crate::ext::tests::{frag_bytes, hao_bytes, opts_header, packet};
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

    /// UDP from MN1 to MN2, checksum over the home address as source (RFC 6275 §6.3).
    fn udp() -> Vec<u8> {
        crate::testpkt::udp(hoa(), mn2(), 443, 12345, b"hello")
    }

    fn dest_opts(next: u8) -> Vec<u8> {
        assert_eq!(emit_dest_opts(&mut [0; DEST_OPTS_LEN], next, &hoa()), Ok(24));
        crate::testpkt::hao_dest_opts(next, hoa())
    }

    #[test]
    fn emitted_header_fixture_and_walk() {
        let d = dest_opts(proto::UDP);
        let mut expect = vec![17, 2, 1, 2, 0, 0, 201, 16];
        expect.extend_from_slice(&hoa().octets());
        assert_eq!(d, expect);
        let p = packet(&coa(), &mn2(), proto::DEST_OPTS, &[&d[..], &udp()].concat());
        let h = ext::walk(&p).unwrap().home_address.unwrap();
        assert_eq!((h.option_offset % 8, h.only_option, h.home), (6, true, hoa()));
        assert!(emit_dest_opts(&mut [0u8; 23], 17, &hoa()).is_err());
    }

    /// The one-step strip of `emit_dest_opts`'s layout gives the bytes of the walk and
    /// `strip`; other layouts and home addresses `strip` refuses are left to the walk.
    #[test]
    fn canonical_strip_equals_the_walked_one() {
        let pkt = packet(&coa(), &mn2(), proto::DEST_OPTS, &[&dest_opts(proto::UDP)[..], &udp()].concat());
        let fixed = |p: &[u8]| ipv6::Fixed::parse(p).unwrap();
        let mut general = [&ETH[..], &pkt, &[0, 0]].concat();
        let chain = ext::walk(&general[14..]).unwrap();
        assert_eq!(strip(&mut general, 14, &chain).unwrap().removed, DEST_OPTS_LEN);

        let mut fast = [&ETH[..], &pkt, &[0, 0]].concat();
        let c = canonical(&fast, 14, &fixed(&pkt)).unwrap();
        assert_eq!(c.home, u128::from(hoa()));
        strip_canonical(&mut fast, 14, &c).unwrap();
        // The link header is the caller's to rewrite; everything after it is equal.
        assert_eq!(fast[DEST_OPTS_LEN + 14..], general[DEST_OPTS_LEN + 14..]);

        // Four Pad1 instead of PadN, an extension header or a Mobility Header after the
        // option, a home address that is not unicast routable: not the fast path's.
        let mut pad1 = pkt.clone();
        pad1[42..46].fill(ext::option::PAD1);
        let mut mcast = pkt.clone();
        mcast[48] = 0xff;
        let mut ll = pkt.clone();
        ll[48..50].copy_from_slice(&[0xfe, 0x80]);
        let after = |nh: u8| packet(&coa(), &mn2(), proto::DEST_OPTS, &[&dest_opts(nh)[..], &udp()].concat());
        for (what, p) in [
            ("Pad1", pad1),
            ("multicast home", mcast),
            ("link-local home", ll),
            ("then Hop-by-Hop", after(proto::HOP_BY_HOP)),
            ("then Fragment", after(proto::FRAGMENT)),
            ("then MH", after(proto::MOBILITY)),
        ] {
            assert_eq!(canonical(&p, 0, &fixed(&p)), None, "{what}");
        }
        let plain = packet(&coa(), &mn2(), proto::UDP, &udp());
        assert_eq!(canonical(&plain, 0, &fixed(&plain)), None);
        // A header claiming less than the option, and buffers too short.
        let ip = fixed(&pkt);
        assert_eq!(canonical(&pkt, 0, &ipv6::Fixed { payload_len: DEST_OPTS_LEN - 1, ..ip }), None);
        assert_eq!(canonical(&pkt[..63], 0, &ip), None);
        assert_eq!(canonical(&pkt, usize::MAX, &ip), None);
        let mut short = pkt[..63].to_vec();
        assert_eq!(strip_canonical(&mut short, 0, &c), None);
        assert_eq!(short, pkt[..63]);
        assert_eq!(strip_canonical(&mut short, usize::MAX, &c), None);
    }

    #[test]
    fn strip_removes_whole_header() {
        let u = udp();
        let pkt = packet(&coa(), &mn2(), proto::DEST_OPTS, &[&dest_opts(proto::UDP)[..], &u].concat());
        let mut buf = [&ETH[..], &pkt].concat();
        let chain = ext::walk(&buf[14..]).unwrap();
        let s = strip(&mut buf, 14, &chain).unwrap();
        assert_eq!(s, Stripped { removed: 24, home: hoa(), care_of: coa() });
        let out = &buf[24..];
        assert_eq!(out[..14], ETH);
        let h = Header::new_checked(&out[14..]).unwrap();
        assert_eq!((h.src_addr(), h.dst_addr(), h.next_header()), (hoa(), mn2(), proto::UDP));
        assert_eq!(usize::from(h.payload_len()), u.len());
        assert_eq!(&out[54..], &u[..]);
        assert!(checksum::verify_upper_layer(&h.src_addr(), &h.dst_addr(), proto::UDP, &out[54..]));
        let c = ext::walk(&out[14..]).unwrap();
        assert_eq!((c.headers, c.home_address, c.upper_offset), (0, None, 40));
    }

    #[test]
    fn strip_pads_when_other_options_present() {
        let u = udp();
        // An unknown skippable option (type 0x1e, high bits 00) besides the HAO.
        let opts = [&[0x1e, 2, 0xab, 0xcd][..], &hao_bytes(&hoa())].concat();
        let d = opts_header(proto::UDP, &opts);
        let pkt = packet(&coa(), &mn2(), proto::DEST_OPTS, &[&d[..], &u].concat());
        let mut buf = pkt.clone();
        let chain = ext::walk(&buf).unwrap();
        let s = strip(&mut buf, 0, &chain).unwrap();
        assert_eq!(s, Stripped { removed: 0, home: hoa(), care_of: coa() });
        assert_eq!(buf.len(), pkt.len());
        let h = Header::new_checked(&buf[..]).unwrap();
        assert_eq!((h.src_addr(), h.next_header(), h.payload_len()), (hoa(), proto::DEST_OPTS, 24 + 13));
        assert_eq!(buf[46..48], [1, 16]);
        assert_eq!(buf[48..64], [0; 16]);
        assert_eq!(buf[42..46], [0x1e, 2, 0xab, 0xcd]);
        let c = ext::walk(&buf).unwrap();
        assert_eq!((c.home_address, c.upper_proto, c.upper_offset), (None, proto::UDP, 64));
        assert!(checksum::verify_upper_layer(&hoa(), &mn2(), proto::UDP, &buf[64..]));
    }

    #[test]
    fn strip_with_hop_by_hop_and_fragment_after() {
        let u = udp();
        // HbH | DestOpts(HAO) | Fragment (atomic) | UDP: every fragment carries the option.
        let body = [&opts_header(proto::DEST_OPTS, &[])[..], &dest_opts(proto::FRAGMENT), &frag_bytes(proto::UDP, 0, false, 0x1234), &u].concat();
        let pkt = packet(&coa(), &mn2(), proto::HOP_BY_HOP, &body);
        let mut buf = [&ETH[..], &pkt].concat();
        let chain = ext::walk(&buf[14..]).unwrap();
        assert_eq!(chain.home_address.unwrap().prev_next_header_offset, 40);
        let s = strip(&mut buf, 14, &chain).unwrap();
        assert_eq!(s.removed, 24);
        let out = &buf[24 + 14..];
        let c = ext::walk(out).unwrap();
        assert!(c.hop_by_hop);
        assert_eq!(out[40], proto::FRAGMENT);
        assert_eq!(c.fragment.unwrap().offset, 48);
        assert_eq!(c.fragment.unwrap().id, 0x1234);
        assert_eq!((c.upper_proto, c.upper_offset), (proto::UDP, 56));
        assert!(checksum::verify_upper_layer(&hoa(), &mn2(), proto::UDP, &out[56..]));
        assert_eq!(buf[24..38], ETH);

        // A later fragment of the same datagram: option removed the same way.
        let body = [&dest_opts(proto::FRAGMENT)[..], &frag_bytes(proto::UDP, 2, false, 0x1234), &[7; 8]].concat();
        let mut buf = packet(&coa(), &mn2(), proto::DEST_OPTS, &body);
        let chain = ext::walk(&buf).unwrap();
        assert_eq!(strip(&mut buf, 0, &chain).unwrap().removed, 24);
        let c = ext::walk(&buf[24..]).unwrap();
        assert!(c.is_non_first_fragment());
        assert_eq!(Header::new_checked(&buf[24..]).unwrap().src_addr(), hoa());
    }

    #[test]
    fn strip_refusals_leave_buffer_unchanged() {
        let u = udp();
        // Option after the Fragment header.
        let body = [&frag_bytes(proto::DEST_OPTS, 0, true, 1)[..], &dest_opts(proto::UDP), &u].concat();
        let mut buf = packet(&coa(), &mn2(), proto::FRAGMENT, &body);
        let before = buf.clone();
        let chain = ext::walk(&buf).unwrap();
        assert_eq!(strip(&mut buf, 0, &chain), Err(malformed("home address option after fragment header")));
        assert_eq!(buf, before);

        // No option.
        let mut buf = packet(&coa(), &mn2(), proto::UDP, &u);
        let chain = ext::walk(&buf).unwrap();
        assert_eq!(strip(&mut buf, 0, &chain), Err(malformed("no home address option")));

        // Chain of another packet.
        let good = packet(&coa(), &mn2(), proto::DEST_OPTS, &[&dest_opts(proto::UDP)[..], &u].concat());
        let chain = ext::walk(&good).unwrap();
        let mut other = packet(&coa(), &mn2(), proto::UDP, &[&u[..], &[0; 40]].concat());
        let before = other.clone();
        assert_eq!(strip(&mut other, 0, &chain), Err(malformed("chain does not match packet")));
        assert_eq!(other, before);
        // Hostile chain values.
        let mut bad = chain;
        if let Some(h) = bad.home_address.as_mut() {
            h.header_offset = usize::MAX - 3;
        }
        assert!(strip(&mut good.clone(), 0, &bad).is_err());
        let mut bad = chain;
        if let Some(h) = bad.home_address.as_mut() {
            h.option_offset = usize::MAX;
        }
        assert!(strip(&mut good.clone(), 0, &bad).is_err());
        let mut bad = chain;
        if let Some(h) = bad.home_address.as_mut() {
            h.prev_next_header_offset = 41;
        }
        assert!(strip(&mut good.clone(), 0, &bad).is_err());

        // Multicast home address.
        let mut d = dest_opts(proto::UDP);
        d[8] = 0xff;
        let mut buf = packet(&coa(), &mn2(), proto::DEST_OPTS, &[&d[..], &u].concat());
        let chain = ext::walk(&buf).unwrap();
        assert_eq!(strip(&mut buf, 0, &chain), Err(malformed("home address not unicast routable")));

        // Truncated buffers with the chain of the whole packet.
        let full = [&ETH[..], &good].concat();
        for n in 0..full.len() {
            let mut b = full[..n].to_vec();
            assert!(strip(&mut b, 14, &chain).is_err(), "len {n}");
            assert_eq!(b, full[..n]);
        }
        assert!(strip(&mut full.clone(), usize::MAX, &chain).is_err());
    }
}
