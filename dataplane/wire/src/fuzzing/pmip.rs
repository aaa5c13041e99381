//! Target `pmip_codec`: the PMIPv6 codec (RFC 5213 §8). Byte 0 even: the rest is a Mobility
//! Header, parsed as PBU and PBA; what parses emits again and parses to the same value.
//! Byte 0 odd: the rest builds a PBU and a PBA (structure-aware); what emits parses back to
//! the same value, with the options at their alignments and a checksum that verifies.

use core::net::Ipv6Addr;

use crate::mobility;
use crate::pmip::{PmipOptions, ProxyBindingAck, ProxyBindingUpdate, MAX_MESSAGE_LEN};

pub fn pmip(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        parsed(rest);
    } else {
        let mut r = Reader(rest);
        built_pbu(&mut r);
        built_pba(&mut r);
    }
}

fn parsed(mh: &[u8]) {
    if let Ok(pbu) = ProxyBindingUpdate::parse(mh) {
        let again = pbu.try_to_bytes().expect("a parsed PBU emits");
        assert_eq!(ProxyBindingUpdate::parse(&again), Ok(pbu), "PBU round trip");
    }
    if let Ok(pba) = ProxyBindingAck::parse(mh) {
        let again = pba.try_to_bytes().expect("a parsed PBA emits");
        assert_eq!(ProxyBindingAck::parse(&again), Ok(pba), "PBA round trip");
    }
}

/// Reads values off the fuzz input; zeros once it runs out.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        (u64::from(self.u16()) << 48) | (u64::from(self.u16()) << 32) | (u64::from(self.u16()) << 16) | u64::from(self.u16())
    }
    fn addr(&mut self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.iter_mut().for_each(|b| *b = self.u8());
        Ipv6Addr::from(a)
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.u8()).collect()
    }
    fn options(&mut self) -> PmipOptions {
        let present = self.u8();
        let has = |bit: u8| present & (1 << bit) != 0;
        PmipOptions {
            mn_id: has(0).then(|| {
                let n = usize::from(self.u8());
                self.bytes(n)
            }),
            home_network_prefixes: (0..self.u8() % 8).map(|_| (self.addr(), self.u8())).collect(),
            handoff_indicator: has(1).then(|| self.u8()),
            access_technology: has(2).then(|| self.u8()),
            mn_link_layer_id: has(3).then(|| {
                let n = usize::from(self.u8());
                self.bytes(n)
            }),
            link_local_address: has(4).then(|| self.addr()),
            timestamp: has(5).then(|| self.u64()),
        }
    }
}

/// Emitted bytes parse back to `value` (with the P flag, which parse requires), or the emit
/// refused what the option lengths cannot carry.
fn check_emitted<T: PartialEq + core::fmt::Debug>(
    bytes: crate::Result<Vec<u8>>,
    options: &PmipOptions,
    value: &T,
    parse: impl Fn(&[u8]) -> crate::Result<T>,
    proxy: bool,
) {
    let Ok(mut mh) = bytes else {
        let bad_len = |id: &Option<Vec<u8>>, max: usize| id.as_ref().is_some_and(|v| v.is_empty() || v.len() > max);
        let refusable = bad_len(&options.mn_id, crate::pmip::MAX_MN_ID_LEN)
            || bad_len(&options.mn_link_layer_id, crate::pmip::MAX_LINK_LAYER_ID_LEN)
            || options.home_network_prefixes.iter().any(|p| p.1 > 128)
            || options.home_network_prefixes.len() > 4;
        assert!(refusable, "emit refused valid options {options:?}");
        return;
    };
    assert!(mh.len() <= MAX_MESSAGE_LEN && mh.len() % 8 == 0, "message length {}", mh.len());
    let h = mobility::Header::new_checked(&mh[..]).expect("an emitted message has a valid header");
    assert_eq!(h.header_len_bytes(), mh.len());
    match parse(&mh) {
        Ok(v) => {
            assert!(proxy, "parsed without the P flag");
            assert_eq!(&v, value, "emit → parse");
        }
        Err(e) => assert!(!proxy, "an emitted message does not parse: {e}"),
    }
    let (src, dst) = (Ipv6Addr::new(0x2001, 0xdb8, 0xc0, 0, 0, 0, 0, 1), Ipv6Addr::new(0x2001, 0xdb8, 0xc0, 0, 0, 0, 0, 2));
    mobility::fill_checksum(&mut mh, &src, &dst).expect("room for the checksum");
    assert!(mobility::verify_checksum(&src, &dst, &mh));
}

fn built_pbu(r: &mut Reader) {
    let flags = r.u8();
    let pbu = ProxyBindingUpdate {
        seq: r.u16(),
        ack: flags & 1 != 0,
        home_reg: flags & 2 != 0,
        link_local_compat: flags & 4 != 0,
        proxy_reg: flags & 8 != 0,
        lifetime_units: r.u16(),
        options: r.options(),
    };
    check_emitted(pbu.try_to_bytes(), &pbu.options, &pbu, ProxyBindingUpdate::parse, pbu.proxy_reg);
}

fn built_pba(r: &mut Reader) {
    let flags = r.u8();
    let pba = ProxyBindingAck {
        status: r.u8(),
        key_mgmt: flags & 1 != 0,
        router: flags & 2 != 0,
        proxy_reg: flags & 4 != 0,
        seq: r.u16(),
        lifetime_units: r.u16(),
        options: r.options(),
    };
    check_emitted(pba.try_to_bytes(), &pba.options, &pba, ProxyBindingAck::parse, pba.proxy_reg);
}
