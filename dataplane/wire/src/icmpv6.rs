//! ICMPv6 (RFC 4443): the message view, error and echo builders, and the §2.4(e) rules for
//! when an error may be sent at all.

use core::net::Ipv6Addr;

use crate::addr;
use crate::checksum;
use crate::ext;
use crate::ipv6::{self, get_u8, proto, Header, Repr, HEADER_LEN, MIN_MTU};
use crate::{Error, Result};

pub const DST_UNREACH: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const PARAM_PROBLEM: u8 = 4;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const RS: u8 = 133;
pub const RA: u8 = 134;
pub const NS: u8 = 135;
pub const NA: u8 = 136;
pub const REDIRECT: u8 = 137;

/// Parameter Problem codes (RFC 4443 §3.4).
pub mod param_problem {
    pub const ERRONEOUS_HEADER_FIELD: u8 = 0;
    pub const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
    pub const UNRECOGNIZED_OPTION: u8 = 2;
}

/// Hop limit of the messages built here (not ND, which uses 255).
pub const HOP_LIMIT: u8 = 64;

/// Bytes of ICMPv6 header before an error's invoking packet or an echo's data.
pub const HEADER_LEN_ICMP: usize = 8;

const LAYER: &str = "icmpv6";

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |     Type      |     Code      |          Checksum             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                     Message Body (errors: MTU / pointer / unused, |
// +                      then the invoking packet; echo: id, seq, data) |
mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const BODY: usize = 4;
    pub const ECHO_ID: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
    pub const ERROR_WORD: Range<usize> = 4..8;
}

/// A view of one ICMPv6 message (the bytes after the IPv6 header chain, up to the end of
/// the IPv6 payload). `new_checked` guarantees the 4-byte type/code/checksum header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Message<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        let len = buffer.as_ref().len();
        if len < field::BODY {
            return Err(Error::Truncated { layer: LAYER, required: field::BODY, len });
        }
        Ok(Message { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Everything after the checksum.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::BODY..]
    }

    /// True for error messages (types 0–127, RFC 4443 §2.1).
    pub fn is_error(&self) -> bool {
        self.msg_type() < 128
    }

    /// Echo identifier and sequence number, if the message is long enough to hold them.
    pub fn echo_id_seq(&self) -> Option<(u16, u16)> {
        let b = self.buffer.as_ref();
        Some((ipv6::get_u16(b, field::ECHO_ID.start)?, ipv6::get_u16(b, field::ECHO_SEQ.start)?))
    }

    /// The 32-bit word after the checksum (MTU, pointer, unused), if present.
    pub fn error_word(&self) -> Option<u32> {
        ipv6::get_u32(self.buffer.as_ref(), field::ERROR_WORD.start)
    }

    /// The error kind, for error messages whose type is one of [`ErrorKind`]'s.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        ErrorKind::parse(self.msg_type(), self.code(), self.error_word()?)
    }

    /// Verifies the checksum against the pseudo-header (`src`/`dst` already resolved for a
    /// Home Address option or Type 2 Routing Header, see `ext::Chain::pseudo_header_addrs`).
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        checksum::verify_upper_layer(src, dst, proto::ICMPV6, self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Message<T> {
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }

    pub fn set_code(&mut self, c: u8) {
        self.buffer.as_mut()[field::CODE] = c;
    }

    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::BODY..]
    }

    /// Zeroes and recomputes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::upper_layer(src, dst, proto::ICMPV6, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// The ICMPv6 errors the agent sends (RFC 4443 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    DestinationUnreachable(u8),
    PacketTooBig { mtu: u32 },
    TimeExceeded(u8),
    ParameterProblem { code: u8, pointer: u32 },
}

impl ErrorKind {
    pub fn msg_type(&self) -> u8 {
        match self {
            ErrorKind::DestinationUnreachable(_) => DST_UNREACH,
            ErrorKind::PacketTooBig { .. } => PACKET_TOO_BIG,
            ErrorKind::TimeExceeded(_) => TIME_EXCEEDED,
            ErrorKind::ParameterProblem { .. } => PARAM_PROBLEM,
        }
    }

    pub fn code(&self) -> u8 {
        match *self {
            ErrorKind::DestinationUnreachable(c) | ErrorKind::TimeExceeded(c) => c,
            ErrorKind::PacketTooBig { .. } => 0,
            ErrorKind::ParameterProblem { code, .. } => code,
        }
    }

    /// The word after the checksum: MTU, pointer, or unused (zero).
    pub fn word(&self) -> u32 {
        match *self {
            ErrorKind::PacketTooBig { mtu } => mtu,
            ErrorKind::ParameterProblem { pointer, .. } => pointer,
            _ => 0,
        }
    }

    pub fn parse(msg_type: u8, code: u8, word: u32) -> Option<ErrorKind> {
        Some(match msg_type {
            DST_UNREACH => ErrorKind::DestinationUnreachable(code),
            PACKET_TOO_BIG => ErrorKind::PacketTooBig { mtu: word },
            TIME_EXCEEDED => ErrorKind::TimeExceeded(code),
            PARAM_PROBLEM => ErrorKind::ParameterProblem { code, pointer: word },
            _ => return None,
        })
    }

    /// RFC 4443 §2.4(e.3): the errors that may answer a packet sent to a multicast address.
    pub fn allowed_for_multicast(&self) -> bool {
        matches!(self, ErrorKind::PacketTooBig { .. } | ErrorKind::ParameterProblem { code: param_problem::UNRECOGNIZED_OPTION, .. })
    }
}

/// The IPv6 + ICMPv6 header and checksum around `out[48..48 + body_len]` (already written).
pub(crate) fn finish(out: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr, hop_limit: u8, icmp_len: usize) -> Result<usize> {
    let total = HEADER_LEN + icmp_len;
    let len = out.len();
    let payload_len = u16::try_from(icmp_len).map_err(|_| Error::Malformed { layer: LAYER, what: "message too long" })?;
    if len < total || icmp_len < field::BODY {
        return Err(Error::NoRoom { layer: LAYER, required: total.max(HEADER_LEN + 4), len });
    }
    Repr { src: *src, dst: *dst, next_header: proto::ICMPV6, payload_len, hop_limit, traffic_class: 0, flow_label: 0 }.emit(out)?;
    let mut msg = Message::new_checked(&mut out[HEADER_LEN..total])?;
    msg.fill_checksum(src, dst);
    Ok(total)
}

/// Writes an IPv6 packet carrying an ICMPv6 error about `invoking` into `out` and returns
/// its length. As much of the invoking packet is quoted as keeps the result within the
/// minimum MTU, 1280 bytes (RFC 4443 §2.4(c)).
pub fn build_error(out: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr, kind: ErrorKind, invoking: &[u8]) -> Result<usize> {
    let quote = invoking.len().min(MIN_MTU - HEADER_LEN - HEADER_LEN_ICMP);
    let icmp_len = HEADER_LEN_ICMP + quote;
    let total = HEADER_LEN + icmp_len;
    let len = out.len();
    let Some(icmp) = out.get_mut(HEADER_LEN..total) else {
        return Err(Error::NoRoom { layer: LAYER, required: total, len });
    };
    icmp[field::TYPE] = kind.msg_type();
    icmp[field::CODE] = kind.code();
    icmp[field::ERROR_WORD].copy_from_slice(&kind.word().to_be_bytes());
    icmp[HEADER_LEN_ICMP..].copy_from_slice(&invoking[..quote]);
    finish(out, src, dst, HOP_LIMIT, icmp_len)
}

/// Writes an IPv6 packet carrying an Echo Request (`request`) or Echo Reply (RFC 4443 §4).
pub fn build_echo(out: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr, request: bool, id: u16, seq: u16, payload: &[u8]) -> Result<usize> {
    let icmp_len = HEADER_LEN_ICMP + payload.len();
    let total = HEADER_LEN + icmp_len;
    let len = out.len();
    let Some(icmp) = out.get_mut(HEADER_LEN..total) else {
        return Err(Error::NoRoom { layer: LAYER, required: total, len });
    };
    icmp[field::TYPE] = if request { ECHO_REQUEST } else { ECHO_REPLY };
    icmp[field::CODE] = 0;
    icmp[field::ECHO_ID].copy_from_slice(&id.to_be_bytes());
    icmp[field::ECHO_SEQ].copy_from_slice(&seq.to_be_bytes());
    icmp[HEADER_LEN_ICMP..].copy_from_slice(payload);
    finish(out, src, dst, HOP_LIMIT, icmp_len)
}

/// RFC 4443 §2.4(e) for the errors that are not exempt for multicast destinations (i.e.
/// anything but Packet Too Big and Parameter Problem code 2). See [`may_send_error_kind`].
pub fn may_send_error(invoking_ipv6: &[u8]) -> bool {
    may_send(invoking_ipv6, false)
}

/// RFC 4443 §2.4(e): may an error of `kind` be sent about `invoking_ipv6`?
/// - never about an ICMPv6 error or a Redirect (e.1, e.2);
/// - not about a packet to a multicast address, except Packet Too Big and Parameter Problem
///   code 2 (e.3);
/// - never about a packet whose source does not identify one node: unspecified or
///   multicast (e.6).
///
/// (e.4/e.5, link-layer multicast/broadcast, are the caller's: it knows the frame.) A packet
/// too short to show its addresses gets no error.
pub fn may_send_error_kind(invoking_ipv6: &[u8], kind: &ErrorKind) -> bool {
    may_send(invoking_ipv6, kind.allowed_for_multicast())
}

fn may_send(pkt: &[u8], multicast_ok: bool) -> bool {
    let (Some(first), Some(src), Some(dst)) = (pkt.first(), ipv6::get_addr(pkt, ipv6::field::SRC_ADDR.start), ipv6::get_addr(pkt, ipv6::field::DST_ADDR.start))
    else {
        return false;
    };
    if first >> 4 != 6 || src.is_unspecified() || addr::is_multicast(&src) {
        return false;
    }
    if addr::is_multicast(&dst) && !multicast_ok {
        return false;
    }
    // Find the ICMPv6 type if there is one. The invoking packet may itself be the malformed
    // one being reported; fall back to the first next header then.
    let icmp_type = match ext::walk(pkt) {
        Ok(c) if c.upper_proto == proto::ICMPV6 && !c.is_non_first_fragment() => get_u8(pkt, c.upper_offset),
        Ok(_) => None,
        Err(_) => match Header::new_checked(pkt) {
            Ok(h) if h.next_header() == proto::ICMPV6 => get_u8(pkt, HEADER_LEN),
            // Truncated copies: read what is there.
            _ if get_u8(pkt, ipv6::field::NEXT_HEADER) == Some(proto::ICMPV6) => get_u8(pkt, HEADER_LEN),
            _ => None,
        },
    };
    !matches!(icmp_type, Some(t) if t < 128 || t == REDIRECT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext::tests::packet;
    use crate::ipv6::tests::a;

    fn mn2() -> Ipv6Addr {
        a("2001:db8:3::300")
    }
    fn mag() -> Ipv6Addr {
        a("2001:db8:ff::1")
    }

    #[test]
    fn echo_fixture() {
        let mut out = [0u8; 64];
        let n = build_echo(&mut out, &a("2001:db8::1"), &a("2001:db8::2"), true, 0x1234, 1, b"hi!").unwrap();
        assert_eq!(n, 51);
        // Header: payload length 11, next header 58, hop limit 64.
        assert_eq!(out[4..8], [0, 11, 58, 64]);
        // Same message as checksum.rs' round-trip test, checksum now filled.
        assert_eq!(out[40..42], [128, 0]);
        assert_eq!(out[44..51], [0x12, 0x34, 0, 1, b'h', b'i', b'!']);
        let m = Message::new_checked(&out[40..n]).unwrap();
        assert!(m.verify_checksum(&a("2001:db8::1"), &a("2001:db8::2")));
        assert!(!m.verify_checksum(&a("2001:db8::1"), &a("2001:db8::3")));
        assert_eq!(m.echo_id_seq(), Some((0x1234, 1)));
        assert!(!m.is_error());
        assert_eq!(m.body().len(), 7);
        assert_eq!(m.error_kind(), None);
        assert!(build_echo(&mut out[..50], &mn2(), &mn2(), false, 0, 0, b"hi!").is_err());
    }

    #[test]
    fn error_quotes_whole_small_packet() {
        let invoking = packet(&mn2(), &a("2001:db8:1::100"), proto::UDP, &[0; 100]);
        let mut out = [0u8; 1500];
        let kind = ErrorKind::PacketTooBig { mtu: 1456 };
        let n = build_error(&mut out, &mag(), &mn2(), kind, &invoking).unwrap();
        assert_eq!(n, 48 + 140);
        let h = Header::new_checked(&out[..n]).unwrap();
        assert_eq!((h.hop_limit(), h.next_header(), h.payload_len()), (64, 58, 148));
        let m = Message::new_checked(&out[40..n]).unwrap();
        assert_eq!((m.msg_type(), m.code()), (2, 0));
        assert_eq!(m.error_word(), Some(1456));
        assert_eq!(m.error_kind(), Some(kind));
        assert!(m.is_error());
        assert_eq!(&out[48..n], &invoking[..]);
        assert!(m.verify_checksum(&mag(), &mn2()));
    }

    #[test]
    fn error_truncates_to_minimum_mtu() {
        let invoking = packet(&mn2(), &a("2001:db8:1::100"), proto::UDP, &[7; 1400]);
        let mut out = [0u8; 2000];
        let kind = ErrorKind::ParameterProblem { code: 0, pointer: 42 };
        let n = build_error(&mut out, &mag(), &mn2(), kind, &invoking).unwrap();
        assert_eq!(n, 1280);
        assert_eq!(&out[48..n], &invoking[..1232]);
        let m = Message::new_checked(&out[40..n]).unwrap();
        assert_eq!(m.error_kind(), Some(kind));
        assert!(m.verify_checksum(&mag(), &mn2()));
        // Not enough room: refused, not truncated further.
        assert_eq!(build_error(&mut out[..1279], &mag(), &mn2(), kind, &invoking), Err(Error::NoRoom { layer: "icmpv6", required: 1280, len: 1279 }));
        // An empty invoking packet still makes a valid 48-byte message.
        assert_eq!(build_error(&mut out, &mag(), &mn2(), ErrorKind::TimeExceeded(0), &[]), Ok(48));
    }

    #[test]
    fn error_kind_fields() {
        for k in [
            ErrorKind::DestinationUnreachable(3),
            ErrorKind::PacketTooBig { mtu: 1280 },
            ErrorKind::TimeExceeded(1),
            ErrorKind::ParameterProblem { code: 2, pointer: 40 },
        ] {
            assert_eq!(ErrorKind::parse(k.msg_type(), k.code(), k.word()), Some(k));
        }
        assert_eq!(ErrorKind::parse(128, 0, 0), None);
    }

    #[test]
    fn may_send_rules() {
        let udp = packet(&mn2(), &a("2001:db8:1::100"), proto::UDP, &[0; 8]);
        let any = ErrorKind::DestinationUnreachable(0);
        let ptb = ErrorKind::PacketTooBig { mtu: 1280 };
        let pp2 = ErrorKind::ParameterProblem { code: 2, pointer: 42 };
        let pp0 = ErrorKind::ParameterProblem { code: 0, pointer: 42 };
        assert!(may_send_error(&udp));
        assert!(may_send_error_kind(&udp, &any));

        // (e.1) not about an ICMPv6 error; (e.2) nor a Redirect; fine about an echo.
        let mut out = [0u8; 200];
        let n = build_error(&mut out, &mag(), &mn2(), ptb, &udp).unwrap();
        assert!(!may_send_error(&out[..n]));
        assert!(!may_send_error_kind(&out[..n], &ptb));
        let redirect = packet(&mag(), &mn2(), proto::ICMPV6, &[137, 0, 0, 0, 0, 0, 0, 0]);
        assert!(!may_send_error(&redirect));
        let n = build_echo(&mut out, &mn2(), &mag(), true, 1, 1, &[]).unwrap();
        assert!(may_send_error(&out[..n]));
        // An ICMPv6 error behind a Destination Options header is still an error.
        let body = [&crate::ext::tests::opts_header(proto::ICMPV6, &[])[..], &[1, 0, 0, 0, 0, 0, 0, 0]].concat();
        assert!(!may_send_error(&packet(&mn2(), &mag(), proto::DEST_OPTS, &body)));
        // ...and in a truncated copy.
        let err = packet(&mn2(), &mag(), proto::ICMPV6, &[3, 0, 0, 0, 0, 0, 0, 0]);
        assert!(!may_send_error(&err[..41]));

        // (e.3) multicast destination: only PTB and Parameter Problem code 2.
        let mc = packet(&mn2(), &a("ff02::1"), proto::UDP, &[0; 8]);
        assert!(!may_send_error(&mc));
        assert!(!may_send_error_kind(&mc, &any));
        assert!(!may_send_error_kind(&mc, &pp0));
        assert!(may_send_error_kind(&mc, &ptb));
        assert!(may_send_error_kind(&mc, &pp2));

        // (e.6) unspecified or multicast source.
        let unspec = packet(&a("::"), &mag(), proto::UDP, &[0; 8]);
        assert!(!may_send_error_kind(&unspec, &ptb));
        let mcsrc = packet(&a("ff05::2"), &mag(), proto::UDP, &[0; 8]);
        assert!(!may_send_error_kind(&mcsrc, &ptb));

        // Too short to know, or not IPv6: no.
        assert!(!may_send_error(&udp[..39]));
        let mut v4 = udp.clone();
        v4[0] = 0x45;
        assert!(!may_send_error(&v4));
        // Malformed chain (what a Parameter Problem would report) is fine to answer.
        let bad = packet(&mn2(), &mag(), proto::DEST_OPTS, &[proto::UDP, 0, 1, 10, 0, 0, 0, 0]);
        assert!(may_send_error_kind(&bad, &pp0));
    }

    #[test]
    fn message_view_truncated() {
        for n in 0..4 {
            assert_eq!(Message::new_checked(&[0u8; 4][..n]), Err(Error::Truncated { layer: "icmpv6", required: 4, len: n }));
        }
        let m = Message::new_checked(&[1u8, 0, 0, 0][..]).unwrap();
        assert_eq!(m.error_word(), None);
        assert_eq!(m.error_kind(), None);
        assert_eq!(m.echo_id_seq(), None);
        let mut b = [0u8; 8];
        let mut m = Message::new_checked(&mut b[..]).unwrap();
        m.set_msg_type(4);
        m.set_code(1);
        m.body_mut()[3] = 9;
        m.set_checksum(0xabcd);
        assert_eq!(m.error_kind(), Some(ErrorKind::ParameterProblem { code: 1, pointer: 9 }));
        assert_eq!(m.checksum(), 0xabcd);
    }
}
