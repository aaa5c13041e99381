//! The production fast-path binding table (`dataplane::bindings`: two-choice buckets of
//! one-byte signatures, lock-free readers, QSBR) at 1k and 1M bindings, keys in a scattered
//! order (so the 1M table misses the caches as real traffic would), hits and misses: one
//! key at a time (`lookup`), and in bursts of 32 through the worker's three passes
//! (`start` + prefetch, `advance` + prefetch, `finish`). It needs the EAL: initialised once,
//! without hugepages.
//! `cargo bench --bench lookup`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dataplane::bindings;
use std::net::Ipv6Addr;

fn addr(net: u128, i: u64) -> Ipv6Addr {
    Ipv6Addr::from((net << 64) | (i as u128 + 1))
}

fn benches(c: &mut Criterion) {
    let args: Vec<String> = [
        "bench",
        "-l",
        "0",
        "--no-huge",
        "-m",
        "1024",
        "--no-pci",
        "--no-shconf",
        "--file-prefix",
        &format!("crit{}", std::process::id()),
        "--log-level",
        "error",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _eal = dataplane::eal::Eal::init(&args).expect("EAL (run as root)");
    for n in [1024u64, 1 << 20] {
        let cap = (n + n / 8 + 1024) as u32;
        let (mut w, mut readers) = bindings::table(&format!("crit{n}"), cap, 1, 0).expect("binding table");
        for i in 0..n {
            w.upsert(&addr(0x2001_0db8_0001_0000, i), &addr(0x2001_0db8_0003_0000, i), &addr(0x2001_0db8_0002_0000, i)).unwrap();
        }
        let r = readers.remove(0);
        r.online();
        // 4096 keys scattered over the table.
        let keys: Vec<([u8; 16], [u8; 16])> = (0..4096u64)
            .map(|j| {
                let i = j.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n;
                (addr(0x2001_0db8_0001_0000, i).octets(), addr(0x2001_0db8_0003_0000, i).octets())
            })
            .collect();
        let misses: Vec<([u8; 16], [u8; 16])> = keys
            .iter()
            .map(|(h, a)| {
                let mut h = *h;
                h[5] ^= 9;
                (h, *a)
            })
            .collect();
        let mut g = c.benchmark_group(format!("binding_lookup/{n}"));
        g.throughput(Throughput::Elements(keys.len() as u64));
        g.bench_function("hit", |b| b.iter(|| keys.iter().filter(|(h, a)| r.lookup(black_box(h), a).is_some()).count()));
        g.bench_function("miss", |b| b.iter(|| misses.iter().filter(|(h, a)| r.lookup(black_box(h), a).is_some()).count()));
        // Bursts of 32 as the worker does them.
        let mut p: Vec<bindings::Pending> = Vec::with_capacity(32);
        let mut burst = |set: &[([u8; 16], [u8; 16])]| {
            let mut found = 0;
            for chunk in set.chunks(32) {
                p.clear();
                p.extend(chunk.iter().map(|(h, a)| r.start(bindings::Key::new(black_box(h), a))));
                p.iter_mut().for_each(|p| r.advance(p));
                found += p.iter().filter(|p| r.finish(p, &p.key).is_some()).count();
            }
            found
        };
        g.bench_function("burst_hit", |b| b.iter(|| burst(&keys)));
        g.bench_function("burst_miss", |b| b.iter(|| burst(&misses)));
        g.finish();
        r.quiescent();
        r.offline();
    }
}

criterion_group!(lookup, benches);
criterion_main!(lookup);
