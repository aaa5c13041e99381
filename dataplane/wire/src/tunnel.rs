//! The MAG–LMA IPv6-in-IPv6 tunnel (RFC 2473, used by RFC 5213 §6.10.5): prepend and
//! remove the outer header in place. No allocation; the caller owns the headroom.

use core::net::Ipv6Addr;

use crate::ext::{self, Chain};
use crate::ipv6::{proto, Header, Repr, HEADER_LEN};
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
    let inner =
        buf.get(at..).ok_or(Error::Truncated { layer: LAYER, required: at + HEADER_LEN, len })?;
    let h = Header::new_checked(inner)?;
    // RFC 2473 §7 would fragment (or use a jumbogram); the agent refuses instead.
    let payload_len = u16::try_from(h.total_len())
        .map_err(|_| Error::Malformed { layer: LAYER, what: "inner packet too long for tunnel" })?;
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
    Ok(Decap {
        outer_src: outer.src_addr(),
        outer_dst: outer.dst_addr(),
        inner_offset: chain.upper_offset,
        inner_len: ih.total_len(),
    })
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
        assert_eq!(
            d,
            Decap { outer_src: mag(), outer_dst: lma(), inner_offset: 40, inner_len: 52 }
        );
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
        assert_eq!(
            encapsulate(&mut buf, &mag(), &lma(), 64),
            Err(Error::Malformed { layer: "ipv6", what: "version" })
        );
        // 40 + 65535 cannot fit in the outer payload length.
        let mut big = vec![0u8; 80 + 65535];
        big[40] = 0x60;
        big[44..46].copy_from_slice(&65535u16.to_be_bytes());
        assert_eq!(
            encapsulate(&mut big, &mag(), &lma(), 64),
            Err(Error::Malformed { layer: "tunnel", what: "inner packet too long for tunnel" })
        );
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
        assert_eq!(
            decapsulate(&packet(&lma(), &mag(), proto::UDP, &inner())),
            Err(Error::Malformed { layer: "tunnel", what: "not ipv6-in-ipv6" })
        );
        // Inner not IPv6.
        let mut q = p.clone();
        q[40] = 0x45;
        assert_eq!(decapsulate(&q).unwrap_err().reason(), "malformed");
        // Fragmented outer.
        let body = [&crate::ext::tests::frag_bytes(proto::IPV6, 0, true, 1)[..], &inner()].concat();
        assert_eq!(
            decapsulate(&packet(&lma(), &mag(), proto::FRAGMENT, &body)),
            Err(Error::Malformed { layer: "tunnel", what: "fragmented tunnel packet" })
        );
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
