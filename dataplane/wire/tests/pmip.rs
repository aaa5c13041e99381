//! Property tests of the PMIPv6 codec: parsing arbitrary or mutated bytes never panics, and
//! every message the codec emits parses back equal.

use core::net::Ipv6Addr;

use proptest::prelude::*;
use wire::pmip::{PmipOptions, ProxyBindingAck, ProxyBindingUpdate, MAX_LINK_LAYER_ID_LEN};

fn options() -> impl Strategy<Value = PmipOptions> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..40)),
        proptest::collection::vec((any::<u128>(), 0u8..=128), 0..4),
        proptest::option::of(any::<u8>()),
        proptest::option::of(any::<u8>()),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=MAX_LINK_LAYER_ID_LEN)),
        proptest::option::of(any::<u128>()),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(mn_id, hnps, hi, att, ll, lla, ts)| PmipOptions {
            mn_id,
            home_network_prefixes: hnps.into_iter().map(|(p, l)| (Ipv6Addr::from(p), l)).collect(),
            handoff_indicator: hi,
            access_technology: att,
            mn_link_layer_id: ll,
            link_local_address: lla.map(Ipv6Addr::from),
            timestamp: ts,
        })
}

fn pbu() -> impl Strategy<Value = ProxyBindingUpdate> {
    (any::<u16>(), any::<[bool; 3]>(), any::<u16>(), options()).prop_map(|(seq, [ack, home_reg, link_local_compat], lifetime_units, options)| {
        ProxyBindingUpdate { seq, ack, home_reg, link_local_compat, proxy_reg: true, lifetime_units, options }
    })
}

fn pba() -> impl Strategy<Value = ProxyBindingAck> {
    (any::<u8>(), any::<[bool; 2]>(), any::<u16>(), any::<u16>(), options()).prop_map(|(status, [key_mgmt, router], seq, lifetime_units, options)| {
        ProxyBindingAck { status, key_mgmt, router, proxy_reg: true, seq, lifetime_units, options }
    })
}

/// Flips, overwrites and truncations applied to a valid message.
fn mutate(mut b: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(at, v) in edits {
        let i = at % b.len();
        b[i] = v;
    }
    b.truncate(b.len() - cut % b.len());
    b
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..160)) {
        let _ = ProxyBindingUpdate::parse(&data);
        let _ = ProxyBindingAck::parse(&data);
    }

    #[test]
    fn emitted_pbu_parses_back(u in pbu()) {
        let b = u.to_bytes();
        prop_assert_eq!(b.len() % 8, 0);
        prop_assert_eq!(usize::from(b[1]), b.len() / 8 - 1);
        prop_assert_eq!(ProxyBindingUpdate::parse(&b).unwrap(), u);
    }

    #[test]
    fn emitted_pba_parses_back(a in pba()) {
        let b = a.to_bytes();
        prop_assert_eq!(b.len() % 8, 0);
        prop_assert_eq!(ProxyBindingAck::parse(&b).unwrap(), a);
    }

    #[test]
    fn mutated_messages_never_panic(
        u in pbu(),
        a in pba(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        for b in [u.to_bytes(), a.to_bytes()] {
            let m = mutate(b, &edits, cut);
            // Whatever parses re-emits into the same message (unless canonical padding
            // pushes a near-maximal one past 2048 bytes, which try_to_bytes reports).
            if let Ok(p) = ProxyBindingUpdate::parse(&m) {
                if let Ok(again) = p.try_to_bytes() {
                    prop_assert_eq!(ProxyBindingUpdate::parse(&again).unwrap(), p);
                }
            }
            if let Ok(p) = ProxyBindingAck::parse(&m) {
                if let Ok(again) = p.try_to_bytes() {
                    prop_assert_eq!(ProxyBindingAck::parse(&again).unwrap(), p);
                }
            }
        }
    }
}
