//! Per-packet functions of the `wire` crate on 78-byte-class packets: extension-header walk,
//! RH2 insertion, HAO strip, IPv6-in-IPv6 encapsulation and decapsulation.
//! `cargo bench --bench packets`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::net::Ipv6Addr;
use wire::testpkt::{self, a, ip6};
use wire::{ext, hao, ipv6, rh2, tunnel};

/// UDP 0 → 0 with 16 zero bytes: a 78-byte frame when plain.
fn udp(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    testpkt::udp(src, dst, 0, 0, &[0; 16])
}

const HOME: &str = "2001:db8:1::100";
const CARE_OF: &str = "2001:db8:2::200";
const MN2: &str = "2001:db8:3::300";

fn hao_packet() -> Vec<u8> {
    testpkt::with_hao(a(CARE_OF), a(MN2), a(HOME), ipv6::proto::UDP, &udp(a(HOME), a(MN2)))
}

fn benches(c: &mut Criterion) {
    let plain = ip6(a(MN2), a(HOME), ipv6::proto::UDP, 64, &udp(a(MN2), a(HOME)));
    let with_hao = hao_packet();
    // Each rewrite bench restores the input first (a copy of ~100 bytes, a few ns).
    c.bench_function("ext_walk/plain_udp", |b| b.iter(|| ext::walk(black_box(&plain)).unwrap().upper_offset));
    c.bench_function("ext_walk/dest_opts_hao", |b| b.iter(|| ext::walk(black_box(&with_hao)).unwrap().upper_offset));

    // [24 free][14 Ethernet][packet] → [14][packet with RH2], as the worker does it.
    let mut rh2_buf = vec![0u8; rh2::LEN + 14];
    rh2_buf.extend_from_slice(&plain);
    let mut work = rh2_buf.clone();
    let (care_of, coa, lma) = (a(CARE_OF), a("2001:db8:c0::1"), a("2001:db8:c0::2"));
    c.bench_function("rh2_insert", |b| {
        b.iter(|| {
            work.copy_from_slice(&rh2_buf);
            rh2::insert(black_box(&mut work), 14, &care_of).unwrap()
        })
    });

    let mut hao_buf = vec![0u8; 14];
    hao_buf.extend_from_slice(&with_hao);
    let chain = ext::walk(&with_hao).unwrap();
    let mut work = hao_buf.clone();
    c.bench_function("hao_strip", |b| {
        b.iter(|| {
            work.copy_from_slice(&hao_buf);
            hao::strip(black_box(&mut work), 14, &chain).unwrap().removed
        })
    });

    let mut enc_buf = vec![0u8; tunnel::OUTER_LEN];
    enc_buf.extend_from_slice(&plain);
    let mut work = enc_buf.clone();
    c.bench_function("tunnel_encapsulate", |b| {
        b.iter(|| {
            work.copy_from_slice(&enc_buf);
            tunnel::encapsulate(black_box(&mut work), &coa, &lma, 64).unwrap()
        })
    });
    let tunneled = testpkt::tunneled(a("2001:db8:c0::2"), a("2001:db8:c0::1"), &plain);
    c.bench_function("tunnel_decapsulate", |b| b.iter(|| tunnel::decapsulate(black_box(&tunneled)).unwrap().inner_offset));
}

criterion_group!(packets, benches);
criterion_main!(packets);
