//! Property tests: the parsers and rewriters never panic on arbitrary or mutated input, and
//! what the rewriters produce re-parses.

use core::net::Ipv6Addr;

use proptest::prelude::*;
use wire::ipv6::{self, proto};
use wire::{ethernet, ext, hao, icmpv6, nd, rh2, testpkt, tunnel};

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ipv6_packet(src: &Ipv6Addr, dst: &Ipv6Addr, nh: u8, payload: &[u8]) -> Vec<u8> {
    testpkt::ip6(*src, *dst, nh, 64, payload)
}

fn udp(src: &Ipv6Addr, dst: &Ipv6Addr) -> Vec<u8> {
    testpkt::udp(*src, *dst, 12345, 443, &[1, 2, 3, 4])
}

/// Valid packets of every shape the dataplane sees.
fn seeds() -> Vec<Vec<u8>> {
    let (mn2, hoa, coa) = (addr("2001:db8:3::300"), addr("2001:db8:1::100"), addr("2001:db8:2::200"));
    let mut out = Vec::new();
    out.push(ipv6_packet(&mn2, &hoa, proto::UDP, &udp(&mn2, &hoa)));

    let mut d = [0u8; 24];
    hao::emit_dest_opts(&mut d, proto::UDP, &hoa).unwrap();
    out.push(ipv6_packet(&coa, &mn2, proto::DEST_OPTS, &[&d[..], &udp(&hoa, &mn2)].concat()));

    let hbh = [proto::DEST_OPTS, 0, 1, 4, 0, 0, 0, 0];
    let mut d = [0u8; 24];
    hao::emit_dest_opts(&mut d, proto::FRAGMENT, &hoa).unwrap();
    let frag = [proto::UDP, 0, 0, 1, 0, 0, 0, 7];
    out.push(ipv6_packet(&coa, &mn2, proto::HOP_BY_HOP, &[&hbh[..], &d, &frag, &udp(&hoa, &mn2)].concat()));

    let mut r = [0u8; 24];
    rh2::emit(&mut r, proto::UDP, &hoa).unwrap();
    out.push(ipv6_packet(&mn2, &coa, proto::ROUTING, &[&r[..], &udp(&mn2, &hoa)].concat()));

    let inner = ipv6_packet(&mn2, &hoa, proto::UDP, &udp(&mn2, &hoa));
    let mut t = [vec![0; 40], inner].concat();
    tunnel::encapsulate(&mut t, &addr("2001:db8:ff::1"), &addr("2001:db8:fe::1"), 64).unwrap();
    out.push(t);

    let mut ns = [0u8; 128];
    let n = nd::build_neighbor_solicit(&mut ns, &addr("fe80::1"), &mn2, &[2, 0, 0, 0, 0, 1]).unwrap();
    out.push(ns[..n].to_vec());
    let n = nd::build_neighbor_advert(&mut ns, &addr("fe80::1"), &addr("fe80::2"), &mn2, &[2, 0, 0, 0, 0, 1], true, true, true).unwrap();
    out.push(ns[..n].to_vec());

    let mut e = [0u8; 128];
    let n = icmpv6::build_echo(&mut e, &mn2, &hoa, true, 1, 2, b"ping").unwrap();
    out.push(e[..n].to_vec());
    out
}

/// Default case count; failures are saved next to this file (`no_panic.proptest-regressions`,
/// commit it) because the default persistence looks for a lib.rs that tests/ lacks.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    }
}

/// Everything read-only, on one buffer: must not panic whatever it returns.
fn exercise_parsers(b: &[u8]) {
    if let Ok(f) = ethernet::Frame::new_checked(b) {
        let _ = (f.dst(), f.src(), f.ethertype(), f.payload().len());
    }
    if let Ok(h) = ipv6::Header::new_checked(b) {
        let _ = (h.version(), h.traffic_class(), h.flow_label(), h.payload_len(), h.next_header());
        let _ = (h.hop_limit(), h.src_addr(), h.dst_addr(), h.total_len(), h.payload().len());
        let _ = ipv6::Repr::parse(&h);
        assert!(h.total_len() <= b.len());
    }
    if let Ok(c) = ext::walk(b) {
        assert!(c.upper_offset <= b.len());
        assert!(c.insert_offset <= c.upper_offset);
        assert!(usize::from(c.headers) <= ext::MAX_HEADERS);
        if let Some(h) = c.home_address {
            assert!(h.option_offset + 18 <= h.header_offset + h.header_len);
        }
    }
    let _ = nd::parse(b);
    if let Ok(d) = tunnel::decapsulate(b) {
        assert!(d.inner_offset + d.inner_len <= b.len());
        assert!(ipv6::Header::new_checked(&b[d.inner_offset..]).is_ok());
    }
    let _ = icmpv6::may_send_error(b);
    let _ = icmpv6::may_send_error_kind(b, &icmpv6::ErrorKind::PacketTooBig { mtu: 1280 });
    if let Ok(m) = icmpv6::Message::new_checked(b) {
        let _ = (m.msg_type(), m.code(), m.checksum(), m.body().len(), m.error_kind(), m.echo_id_seq());
    }
    let _ = rh2::Type2::new_checked(b).map(|t| (t.next_header(), t.segments_left(), t.home_address()));
}

/// The rewriters: on success the output re-parses; on failure the buffer is unchanged.
fn exercise_rewriters(pkt: &[u8], l2_len: usize) {
    let care_of = addr("2001:db8:2::200");
    let l2 = vec![0xa5u8; l2_len];

    let mut buf = [vec![0u8; rh2::LEN], l2.clone(), pkt.to_vec()].concat();
    let before = buf.clone();
    match rh2::insert(&mut buf, l2_len, &care_of) {
        Ok(()) => {
            assert_eq!(buf.len(), before.len());
            assert_eq!(buf[..l2_len], l2[..]);
            let out = &buf[l2_len..];
            let c = ext::walk(out).expect("rh2::insert output re-parses");
            let r = c.routing.expect("routing header present");
            assert_eq!((r.routing_type, r.segments_left), (2, 1));
            let old = ipv6::Header::new_checked(pkt).unwrap();
            assert_eq!(r.home_address, Some(old.dst_addr()));
            let new = ipv6::Header::new_checked(out).unwrap();
            assert_eq!(new.dst_addr(), care_of);
            assert_eq!(new.total_len(), old.total_len() + rh2::LEN);
            assert_eq!(c.upper_proto, ext::walk(pkt).unwrap().upper_proto);
        }
        Err(_) => assert_eq!(buf, before),
    }

    let mut buf = [l2.clone(), pkt.to_vec()].concat();
    let before = buf.clone();
    let chain = ext::walk(pkt).unwrap_or_default();
    match hao::strip(&mut buf, l2_len, &chain) {
        Ok(s) => {
            let out = &buf[s.removed..];
            assert_eq!(out[..l2_len], l2[..]);
            let c = ext::walk(&out[l2_len..]).expect("hao::strip output re-parses");
            assert_eq!(c.home_address, None);
            assert_eq!(c.upper_proto, chain.upper_proto);
            let h = ipv6::Header::new_checked(&out[l2_len..]).unwrap();
            assert_eq!(h.src_addr(), s.home);
        }
        Err(_) => assert_eq!(buf, before),
    }

    // The worker's encapsulation: [40 free][inner] → [outer][inner].
    let mut buf = [vec![0u8; tunnel::OUTER_LEN], pkt.to_vec()].concat();
    let before = buf.clone();
    match tunnel::encapsulate(&mut buf, &care_of, &care_of, 64) {
        Ok(()) => {
            let d = tunnel::decapsulate(&buf).expect("encapsulated packet decapsulates");
            assert_eq!(d.inner_offset, 40);
        }
        Err(_) => assert_eq!(buf, before),
    }
}

#[derive(Clone, Debug)]
enum Ext {
    HopByHop(Vec<u8>),
    DestOpts(Vec<u8>),
    Hao,
    /// A Home Address option behind another option (strip pads instead of removing).
    HaoAfter(Vec<u8>),
    Rh2(u8),
    Routing(u8, u8, u8),
    Fragment(u16, bool),
    Ah(u8),
}

fn ext_strategy() -> impl Strategy<Value = Ext> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..14).prop_map(Ext::HopByHop),
        prop::collection::vec(any::<u8>(), 0..14).prop_map(Ext::DestOpts),
        Just(Ext::Hao),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(Ext::HaoAfter),
        (0u8..3).prop_map(Ext::Rh2),
        (0u8..4, any::<u8>(), any::<u8>()).prop_map(|(l, t, s)| Ext::Routing(l, t, s)),
        (prop_oneof![Just(0u16), any::<u16>()], any::<bool>()).prop_map(|(o, m)| Ext::Fragment(o & 0x1fff, m)),
        (0u8..6).prop_map(Ext::Ah),
    ]
}

/// Builds a packet from a random chain; each header is well-formed on its own.
fn chain_packet(exts: &[Ext], upper: u8, dst: &Ipv6Addr) -> Vec<u8> {
    let hoa = addr("2001:db8:1::100");
    let mut body: Vec<u8> = Vec::new();
    let mut kinds = Vec::new();
    let mut starts = Vec::new();
    for e in exts {
        starts.push(body.len());
        let (kind, bytes): (u8, Vec<u8>) = match e {
            Ext::HopByHop(o) | Ext::DestOpts(o) => {
                let kind = if matches!(e, Ext::HopByHop(_)) { proto::HOP_BY_HOP } else { proto::DEST_OPTS };
                let mut v = vec![0, 0];
                v.extend_from_slice(o);
                while v.len() % 8 != 0 {
                    v.push(0);
                }
                v[1] = (v.len() / 8 - 1) as u8;
                (kind, v)
            }
            Ext::Hao => {
                let mut v = vec![0u8; 24];
                hao::emit_dest_opts(&mut v, 0, &hoa).unwrap();
                (proto::DEST_OPTS, v)
            }
            Ext::HaoAfter(data) => {
                let mut v = vec![0, 0, 0x1e, data.len() as u8];
                v.extend_from_slice(data);
                v.extend_from_slice(&[201, 16]);
                v.extend_from_slice(&hoa.octets());
                while v.len() % 8 != 0 {
                    v.push(0);
                }
                v[1] = (v.len() / 8 - 1) as u8;
                (proto::DEST_OPTS, v)
            }
            Ext::Rh2(sl) => {
                let mut v = vec![0u8; 24];
                rh2::emit(&mut v, 0, &hoa).unwrap();
                v[3] = *sl;
                (proto::ROUTING, v)
            }
            Ext::Routing(l, t, s) => {
                let mut v = vec![0u8; (usize::from(*l) + 1) * 8];
                v[1] = *l;
                v[2] = *t;
                v[3] = *s;
                (proto::ROUTING, v)
            }
            Ext::Fragment(o, m) => {
                let mut v = vec![0u8; 8];
                v[2..4].copy_from_slice(&((o << 3) | u16::from(*m)).to_be_bytes());
                (proto::FRAGMENT, v)
            }
            Ext::Ah(l) => {
                let mut v = vec![0u8; (usize::from(*l) + 2) * 4];
                v[1] = *l;
                (proto::AH, v)
            }
        };
        kinds.push(kind);
        body.extend(bytes);
    }
    // Link the Next Header fields.
    for (i, s) in starts.iter().enumerate() {
        body[*s] = kinds.get(i + 1).copied().unwrap_or(upper);
    }
    body.extend(udp(&addr("2001:db8:3::300"), &hoa));
    let first = kinds.first().copied().unwrap_or(upper);
    ipv6_packet(&addr("2001:db8:2::200"), dst, first, &body)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes(b in prop::collection::vec(any::<u8>(), 0..160), l2_len in 0usize..20) {
        exercise_parsers(&b);
        exercise_rewriters(&b, l2_len);
    }

    #[test]
    fn random_bytes_behind_valid_ipv6_header(
        nh in prop_oneof![Just(0u8), Just(43), Just(44), Just(51), Just(58), Just(60), Just(41), any::<u8>()],
        payload in prop::collection::vec(any::<u8>(), 0..120),
        extra in 0usize..4,
    ) {
        let mut p = ipv6_packet(&addr("2001:db8:2::200"), &addr("2001:db8:3::300"), nh, &payload);
        p[7] = 255;
        p.extend(std::iter::repeat_n(0, extra));
        exercise_parsers(&p);
        exercise_rewriters(&p, 14);
    }

    #[test]
    fn mutated_valid_packets(
        seed in 0usize..8,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
        l2_len in prop_oneof![Just(0usize), Just(14usize)],
    ) {
        let mut p = seeds().swap_remove(seed);
        for (i, v) in edits {
            let at = i.index(p.len());
            p[at] = v;
        }
        if let Some(c) = cut {
            p.truncate(c.index(p.len() + 1));
        }
        exercise_parsers(&p);
        exercise_rewriters(&p, l2_len);
    }

    #[test]
    fn random_chains(
        exts in prop::collection::vec(ext_strategy(), 0..11),
        upper in prop_oneof![Just(proto::UDP), Just(proto::ICMPV6), Just(proto::MOBILITY), Just(proto::IPV6), Just(proto::NO_NEXT)],
        multicast in any::<bool>(),
    ) {
        let dst = if multicast { addr("ff02::1") } else { addr("2001:db8:3::300") };
        let p = chain_packet(&exts, upper, &dst);
        exercise_parsers(&p);
        exercise_rewriters(&p, 14);
    }
}

proptest! {
    #![proptest_config(config())]

    /// `hao::strip` trusts nothing in the caller's chain: arbitrary offsets never panic and
    /// a refusal leaves the buffer alone.
    #[test]
    fn strip_with_hostile_chain(
        seed in prop_oneof![Just(1usize), Just(2usize)],
        header_offset in prop_oneof![0usize..120, Just(usize::MAX), Just(usize::MAX - 8)],
        header_len in prop_oneof![0usize..64, Just(usize::MAX)],
        option_offset in prop_oneof![0usize..120, Just(usize::MAX), Just(usize::MAX - 17)],
        prev in prop_oneof![0usize..120, Just(usize::MAX)],
        only_option in any::<bool>(),
        fragment_offset in prop::option::of(0usize..120),
        l2_len in prop_oneof![Just(0usize), Just(14usize), Just(usize::MAX)],
    ) {
        let pkt = seeds().swap_remove(seed);
        let mut chain = ext::walk(&pkt).unwrap();
        chain.home_address = Some(ext::HomeAddressOpt {
            header_offset,
            header_len,
            option_offset,
            home: addr("2001:db8:1::100"),
            only_option,
            prev_next_header_offset: prev,
        });
        chain.fragment = fragment_offset.map(|offset| ext::Fragment { offset, fragment_offset: 0, more: false, id: 0 });
        let mut buf = [vec![0x5a; l2_len.min(14)], pkt].concat();
        let before = buf.clone();
        if hao::strip(&mut buf, l2_len, &chain).is_err() {
            prop_assert_eq!(buf, before);
        }
    }
}

#[test]
fn seeds_are_valid() {
    for (i, s) in seeds().iter().enumerate() {
        assert!(ext::walk(s).is_ok(), "seed {i}");
    }
    // The HAO seeds strip, the plain UDP seed takes an RH2.
    let s = seeds();
    let mut b = s[1].clone();
    assert_eq!(hao::strip(&mut b, 0, &ext::walk(&s[1]).unwrap()).unwrap().removed, 24);
    let mut b = [vec![0; 24], s[0].clone()].concat();
    rh2::insert(&mut b, 0, &addr("2001:db8:2::200")).unwrap();
    assert!(nd::parse(&s[5]).unwrap().is_some());
    assert!(nd::parse(&s[6]).unwrap().is_some());
    assert!(tunnel::decapsulate(&s[4]).is_ok());
}
