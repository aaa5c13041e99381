//! Return-routability cryptography (RFC 6275 §5.2.5, §5.2.6): the keygen token HMAC the
//! control core computes per HoTI/CoTI, and Binding Update verification per BU.
//! `cargo bench --bench crypto`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use reflector::crypto::{binding_key, care_of_keygen_token, home_keygen_token, sign, verify};
use std::net::Ipv6Addr;
use wire::mobility::{fill_checksum, BindingUpdate};

fn benches(c: &mut Criterion) {
    let kcn = [7u8; 20];
    let (home, care_of, mn2): (Ipv6Addr, Ipv6Addr, Ipv6Addr) =
        ("2001:db8:1::100".parse().unwrap(), "2001:db8:2::200".parse().unwrap(), "2001:db8:3::300".parse().unwrap());
    let (hn, cn) = ([0x11u8; 8], [0x22u8; 8]);
    c.bench_function("home_keygen_token (HoT)", |b| b.iter(|| home_keygen_token(black_box(&kcn), black_box(&home), black_box(&hn))));

    let bu = BindingUpdate { seq: 0x10, ack: true, lifetime_units: 100, nonce_indices: Some((1, 2)), has_bad: true, ..Default::default() };
    let mut mh = bu.to_bytes();
    let kbm = binding_key(&home_keygen_token(&kcn, &home, &hn), Some(&care_of_keygen_token(&kcn, &care_of, &cn)));
    sign(&mut mh, &kbm, &care_of, &mn2).unwrap();
    fill_checksum(&mut mh, &home, &mn2).unwrap();
    assert!(verify(&mh, &kbm, &care_of, &mn2));
    // What the correspondent does per BU: both tokens again, Kbm, then the authenticator.
    c.bench_function("binding_update_verify (tokens + Kbm + authenticator)", |b| {
        b.iter(|| {
            let h = home_keygen_token(&kcn, black_box(&home), &hn);
            let co = care_of_keygen_token(&kcn, black_box(&care_of), &cn);
            verify(black_box(&mh), &binding_key(&h, Some(&co)), &care_of, &mn2)
        })
    });
}

/// The control core's per-message work for HoTI → HoT in the real state machine
/// (`Reflector::on_mobility`: parse, rate limits, token HMAC, reply built), sources varied so
/// the per-source limit is not what is measured; limits opened wide. The ring hop and the
/// packet build around it are measured end to end by `scripts/bench --mixes down-hao-hoti`.
fn hoti(c: &mut Criterion) {
    use reflector::{Config, Inbound, Reflector, TestEntropy};
    use std::time::Duration;
    let cfg = Config {
        replies_per_sec_per_source: u32::MAX / 4,
        reply_burst_per_source: u32::MAX / 4,
        replies_per_sec_total: u32::MAX / 4,
        reply_burst_total: u32::MAX / 4,
        ..Default::default()
    };
    let mut rng = TestEntropy::new(1);
    let mut r = Reflector::new(cfg, Duration::ZERO, &mut rng);
    let mn2: Ipv6Addr = "2001:db8:3::300".parse().unwrap();
    let packets: Vec<(Ipv6Addr, Vec<u8>)> = (0..1024u128)
        .map(|i| {
            let home = Ipv6Addr::from((0x2001_0db8_0001_0000u128 << 64) | (i + 1));
            let mut mh = vec![59, 1, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
            fill_checksum(&mut mh, &home, &mn2).unwrap();
            let mut ip = vec![0u8; 40];
            wire::ipv6::Repr { src: home, dst: mn2, next_header: 135, payload_len: 16, hop_limit: 64, traffic_class: 0, flow_label: 0 }.emit(&mut ip).unwrap();
            ip.extend_from_slice(&mh);
            (home, ip)
        })
        .collect();
    let mut out = Vec::new();
    let mut i = 0usize;
    let mut now = Duration::from_secs(1);
    c.bench_function("reflector HoTI -> HoT (on_mobility)", |b| {
        b.iter(|| {
            let (home, ip) = &packets[i & 1023];
            i += 1;
            now += Duration::from_nanos(100);
            out.clear();
            r.on_mobility(now, &Inbound { src: *home, dst: mn2, home_address: None, ipv6_packet: ip, mh_offset: 40 }, &mut out);
            out.len()
        })
    });
    assert!(!out.is_empty());
}

criterion_group!(crypto, benches, hoti);
criterion_main!(crypto);
