//! Ethernet II frames (RFC 894: IPv6 over Ethernet is RFC 2464). No VLAN support: a tagged
//! frame simply shows ethertype 0x8100 and the caller drops it.

use core::net::Ipv6Addr;

use crate::{Error, Result};

pub const HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;

pub type MacAddr = [u8; 6];

pub const BROADCAST: MacAddr = [0xff; 6];

/// `02:00:00:00:03:00`, as logs and views print a MAC.
pub fn fmt_mac(m: &MacAddr) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

const LAYER: &str = "ethernet";

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                  Destination MAC (6 bytes)                    |
// +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                               |                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
// |                     Source MAC (6 bytes)                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           EtherType           |  Payload ...
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// A view of an Ethernet II frame. `new_checked` guarantees at least [`HEADER_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps `buffer` after checking it holds a whole Ethernet header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated { layer: LAYER, required: HEADER_LEN, len });
        }
        Ok(Frame { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst(&self) -> MacAddr {
        mac(&self.buffer.as_ref()[field::DST])
    }

    pub fn src(&self) -> MacAddr {
        mac(&self.buffer.as_ref()[field::SRC])
    }

    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Everything after the header (may include Ethernet padding after the IPv6 packet).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst(&mut self, dst: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&dst);
    }

    pub fn set_src(&mut self, src: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&src);
    }

    pub fn set_ethertype(&mut self, ethertype: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&ethertype.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

fn mac(b: &[u8]) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(b);
    m
}

/// Writes an Ethernet header into `buf[..14]`.
pub fn write_header(buf: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: u16) -> Result<()> {
    let len = buf.len();
    let hdr = buf.get_mut(..HEADER_LEN).ok_or(Error::NoRoom { layer: LAYER, required: HEADER_LEN, len })?;
    hdr[field::DST].copy_from_slice(&dst);
    hdr[field::SRC].copy_from_slice(&src);
    hdr[field::ETHERTYPE].copy_from_slice(&ethertype.to_be_bytes());
    Ok(())
}

/// The Ethernet group address of an IPv6 multicast address: 33:33 and its last 4 bytes
/// (RFC 2464 §7).
pub fn ipv6_multicast_mac(addr: &Ipv6Addr) -> MacAddr {
    let o = addr.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// True for group (multicast or broadcast) MAC addresses: the I/G bit.
pub fn is_group(mac: &MacAddr) -> bool {
    mac[0] & 0x01 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: [u8; 16] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // src
        0x86, 0xdd, // IPv6
        0x60, 0x00,
    ];

    #[test]
    fn parse_fixture() {
        let f = Frame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst(), [0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(f.src(), [2, 0, 0, 0, 0, 0x0a]);
        assert_eq!(f.ethertype(), ETHERTYPE_IPV6);
        assert_eq!(f.payload(), &[0x60, 0x00]);
        assert!(is_group(&f.dst()));
        assert!(!is_group(&f.src()));
    }

    #[test]
    fn write_then_parse_round_trip() {
        let mut buf = FRAME;
        buf[..14].fill(0);
        write_header(&mut buf, [0x33, 0x33, 0, 0, 0, 1], [2, 0, 0, 0, 0, 0x0a], ETHERTYPE_IPV6).unwrap();
        assert_eq!(buf, FRAME);
        let mut f = Frame::new_checked(&mut buf[..]).unwrap();
        f.set_dst(BROADCAST);
        f.set_src([1, 2, 3, 4, 5, 6]);
        f.set_ethertype(ETHERTYPE_VLAN);
        assert_eq!(f.dst(), BROADCAST);
        assert_eq!(f.src(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(f.ethertype(), 0x8100);
        f.payload_mut()[0] = 0x61;
        assert_eq!(buf[14], 0x61);
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..HEADER_LEN {
            assert_eq!(Frame::new_checked(&FRAME[..n]), Err(Error::Truncated { layer: "ethernet", required: 14, len: n }));
            let mut b = [0u8; 14];
            assert!(write_header(&mut b[..n], BROADCAST, BROADCAST, 0).is_err());
        }
        assert!(Frame::new_checked(&FRAME[..14]).unwrap().payload().is_empty());
    }

    #[test]
    fn multicast_mac() {
        let a: Ipv6Addr = "ff02::1:ff12:3456".parse().unwrap();
        assert_eq!(ipv6_multicast_mac(&a), [0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
        assert_eq!(ipv6_multicast_mac(&"ff02::1".parse().unwrap()), [0x33, 0x33, 0, 0, 0, 1]);
    }

    #[test]
    fn error_display() {
        let e = Frame::new_checked(&[0u8; 3][..]).unwrap_err();
        assert_eq!(e.to_string(), "ethernet: truncated, 14 bytes required, 3 present");
    }
}
