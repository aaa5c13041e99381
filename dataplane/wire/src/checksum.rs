//! The Internet checksum (RFC 1071) and the IPv6 pseudo-header (RFC 8200 §8.1).

use core::net::Ipv6Addr;

/// One's-complement sum of `data` added to `acc`, not yet folded.
pub fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        // Fold early so the accumulator cannot overflow on jumbo inputs.
        if acc & 0x8000_0000 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

/// Folds a 32-bit sum to 16 bits and complements it.
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Sum of the IPv6 pseudo-header: source, destination, upper-layer length, next header.
pub fn pseudo_header(src: &Ipv6Addr, dst: &Ipv6Addr, upper_len: u32, next_header: u8) -> u32 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc = sum(acc, &upper_len.to_be_bytes());
    acc.wrapping_add(u32::from(next_header))
}

/// The checksum to store in an upper-layer header (ICMPv6, UDP, TCP, Mobility Header)
/// whose checksum field is zero in `data`.
pub fn upper_layer(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, data: &[u8]) -> u16 {
    finish(sum(pseudo_header(src, dst, data.len() as u32, next_header), data))
}

/// True when `data` (checksum field included) verifies against the pseudo-header.
pub fn verify_upper_layer(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, data: &[u8]) -> bool {
    finish(sum(pseudo_header(src, dst, data.len() as u32, next_header), data)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 0001 f203 f4f5 f6f7 sums to ddf2 before complement.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum(0, &data)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(finish(sum(0, &[0x12])), finish(sum(0, &[0x12, 0x00])));
    }

    #[test]
    fn upper_layer_round_trip() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        // ICMPv6 echo request with checksum zero, then filled in.
        let mut msg = [128u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'h', b'i', b'!'];
        let c = upper_layer(&src, &dst, 58, &msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(verify_upper_layer(&src, &dst, 58, &msg));
        msg[9] ^= 1;
        assert!(!verify_upper_layer(&src, &dst, 58, &msg));
    }
}
