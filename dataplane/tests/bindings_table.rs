//! The fast-path binding table on a real EAL (no hugepages): publication, replacement,
//! removal, capacity, bucket overflow, and a reader running concurrently with a writer that
//! churns entries: the reader must never see a torn entry or another key's care-of address.
//! That entries wait for the readers' quiescent point is checked directly (retired counts
//! in the first test; skipping the grace period fails it), since on x86 a recycled entry
//! is rarely caught in the act.

use dataplane::bindings;
use dataplane::eal::Eal;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

fn eal() -> &'static Eal {
    static EAL: OnceLock<Eal> = OnceLock::new();
    EAL.get_or_init(|| {
        let prefix = format!("robt{}", std::process::id());
        let args: Vec<String> =
            ["bindings-test", "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--file-prefix", &prefix, "--log-level", "lib.eal:error"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        Eal::init(&args).expect("EAL starts")
    })
}

fn addr(net: u16, i: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, net, 0, 0, 0, (i >> 16) as u16, i as u16)
}

/// A care-of address that says which key and which version it belongs to, so a torn or
/// misattributed record is detectable: bytes 0..4 = key, 4..16 = version repeated.
fn coa(key: u32, version: u8) -> Ipv6Addr {
    let mut o = [version; 16];
    o[..4].copy_from_slice(&key.to_be_bytes());
    Ipv6Addr::from(o)
}

#[test]
fn publish_replace_remove_and_capacity() {
    let _ = eal();
    let (mut w, readers) = bindings::table("bt_basic", 16, 1, -1).unwrap();
    let r = &readers[0];
    r.online();
    let (home, mn2) = (addr(1, 1), addr(3, 1));
    assert_eq!(r.lookup(&home.octets(), &mn2.octets()), None);
    w.upsert(&home, &mn2, &coa(1, 1)).unwrap();
    assert_eq!(r.lookup(&home.octets(), &mn2.octets()), Some(coa(1, 1).octets()));
    for (h, a, want) in [(home, mn2, Some(coa(1, 1).octets())), (mn2, home, None), (addr(1, 2), mn2, None)] {
        let mut p = r.start(bindings::Key::new(&h.octets(), &a.octets()));
        r.advance(&mut p);
        // One key in a 16-entry table: its bucket names it or never spilled, so pass 2 decides.
        assert!(p.settled(), "pass 2 decided {h}");
        assert_eq!(r.finish(&p, &p.key), want, "burst passes for {h}");
        // Asked for another key, the passes answer for that key, not the one they started for.
        for (h2, a2, want2) in [(home, mn2, Some(coa(1, 1).octets())), (mn2, home, None), (addr(1, 2), mn2, None)] {
            assert_eq!(r.finish(&p, &bindings::Key::new(&h2.octets(), &a2.octets())), want2, "started for {h}, asked for {h2}");
        }
    }
    // The key is ordered: (home, attached) is not (attached, home).
    assert_eq!(r.lookup(&mn2.octets(), &home.octets()), None);
    w.upsert(&home, &mn2, &coa(1, 2)).unwrap();
    assert_eq!(r.lookup(&home.octets(), &mn2.octets()), Some(coa(1, 2).octets()));
    assert_eq!((w.len(), w.retired()), (1, 1));
    // The old record comes back only after the reader's quiescent point.
    w.reclaim();
    assert_eq!(w.retired(), 1);
    r.quiescent();
    w.reclaim();
    assert_eq!(w.retired(), 0);
    assert!(w.remove(&home, &mn2));
    assert!(!w.remove(&home, &mn2));
    assert_eq!(r.lookup(&home.octets(), &mn2.octets()), None);
    r.quiescent();
    // Capacity: 16 records; the 17th is refused, and nothing published before is lost.
    for i in 0..16 {
        w.upsert(&addr(1, i), &mn2, &coa(i, 1)).unwrap();
    }
    assert_eq!(w.upsert(&addr(1, 99), &mn2, &coa(99, 1)), Err(bindings::Full::NoRecord));
    for i in 0..16 {
        assert_eq!(r.lookup(&addr(1, i).octets(), &mn2.octets()), Some(coa(i, 1).octets()));
    }
    r.offline();
}

#[test]
fn concurrent_reader_never_sees_a_torn_or_foreign_record() {
    let _ = eal();
    const KEYS: u32 = 64;
    let (mut w, mut readers) = bindings::table("bt_churn", 256, 1, -1).unwrap();
    let r = readers.pop().unwrap();
    let mn2 = addr(3, 7);
    for k in 0..KEYS {
        w.upsert(&addr(1, k), &mn2, &coa(k, 0)).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let passes = Arc::new(AtomicU64::new(0));
    let (s, p) = (stop.clone(), passes.clone());
    let reader = std::thread::spawn(move || {
        r.online();
        p.store(1, Ordering::Release);
        let (mut hits, mut bad) = (0u64, 0u64);
        let mut k = 0u32;
        while !s.load(Ordering::Relaxed) {
            for _ in 0..64 {
                k = (k + 1) % KEYS;
                if let Some(c) = r.lookup(&addr(1, k).octets(), &mn2.octets()) {
                    hits += 1;
                    let version = c[4];
                    if c[..4] != k.to_be_bytes() || c[4..].iter().any(|b| *b != version) {
                        bad += 1;
                    }
                }
            }
            r.quiescent();
            p.store(p.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        r.offline();
        (hits, bad)
    });
    while passes.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    // The writer replaces and deletes as fast as it can; records are recycled constantly.
    // It goes on until the reader has made many passes, however the threads are scheduled.
    let mut version = 1u8;
    let mut round = 0u32;
    while round < 20_000 || passes.load(Ordering::Relaxed) < 2_000 {
        round += 1;
        let k = round % KEYS;
        if round.is_multiple_of(7) {
            w.remove(&addr(1, k), &mn2);
        }
        loop {
            match w.upsert(&addr(1, k), &mn2, &coa(k, version)) {
                Ok(()) => break,
                Err(bindings::Full::NoRecord) => std::thread::yield_now(),
                Err(e) => panic!("{e:?}"),
            }
        }
        version = version.wrapping_add(1);
    }
    stop.store(true, Ordering::Relaxed);
    let (hits, bad) = reader.join().unwrap();
    assert!(hits > 0, "the reader ran");
    assert_eq!(bad, 0, "torn or recycled records seen in {hits} lookups");
    w.reclaim();
    assert_eq!(w.len(), KEYS as usize);
}

#[test]
fn crowded_buckets_spill_to_the_second_choice_and_refuse_when_both_are_full() {
    let _ = eal();
    // Two buckets of 8 slots: every key's two choices are the same pair, so when 16 keys
    // are in, both are full.
    let (mut w, readers) = bindings::table_with_buckets("bt_spill", 64, 2, 1, -1).unwrap();
    let r = &readers[0];
    r.online();
    let mn2 = addr(3, 1);
    let mut keys: Vec<u32> = (0..16).collect();
    for &i in &keys {
        w.upsert(&addr(1, i), &mn2, &coa(i, 1)).unwrap();
    }
    // An even 8/8 split spills nothing: then swap the last key for new ones until one whose
    // first bucket is the full one arrives (one chance in two per try).
    let mut next = 1000;
    while w.spills() == 0 {
        assert!(next < 1100, "no key ever spilled");
        let out = keys.pop().unwrap();
        assert!(w.remove(&addr(1, out), &mn2));
        w.upsert(&addr(1, next), &mn2, &coa(next, 1)).unwrap();
        keys.push(next);
        next += 1;
        r.quiescent();
    }
    assert_eq!(w.upsert(&addr(1, 99), &mn2, &coa(99, 1)), Err(bindings::Full::Buckets));
    assert_eq!(r.lookup(&addr(1, 99).octets(), &mn2.octets()), None);
    // Replacing a key, wherever it lives, needs no free slot.
    for &i in &keys {
        w.upsert(&addr(1, i), &mn2, &coa(i, 2)).unwrap();
    }
    for &i in &keys {
        assert_eq!(r.lookup(&addr(1, i).octets(), &mn2.octets()), Some(coa(i, 2).octets()), "key {i}");
    }
    // The burst passes give the same answers, for keys in either bucket and for misses.
    for i in keys.iter().copied().chain([99, 100]) {
        let mut p = r.start(bindings::Key::new(&addr(1, i).octets(), &mn2.octets()));
        r.advance(&mut p);
        assert_eq!(r.finish(&p, &p.key), r.lookup(&addr(1, i).octets(), &mn2.octets()), "key {i}");
        for other in [keys[0], keys[keys.len() - 1], 99] {
            assert_eq!(
                r.finish(&p, &bindings::Key::new(&addr(1, other).octets(), &mn2.octets())),
                r.lookup(&addr(1, other).octets(), &mn2.octets()),
                "key {i}, asked for {other}"
            );
        }
    }
    // Removing keys one by one leaves the others found and the spill counts consistent.
    for (n, &i) in keys.iter().enumerate() {
        assert!(w.remove(&addr(1, i), &mn2));
        assert_eq!(r.lookup(&addr(1, i).octets(), &mn2.octets()), None);
        for &j in &keys[n + 1..] {
            assert_eq!(r.lookup(&addr(1, j).octets(), &mn2.octets()), Some(coa(j, 2).octets()), "key {j} after removing {i}");
        }
        r.quiescent();
    }
    assert_eq!((w.len(), w.spills()), (0, 0));
    r.offline();
}

#[test]
fn bound_peers_are_every_live_bindings_home_and_care_of_address() {
    let _ = eal();
    let (mut w, readers) = bindings::table("bt_peers", 4096, 1, -1).unwrap();
    let r = &readers[0];
    let mn2 = addr(3, 1);
    let peer = |a: Ipv6Addr| r.is_peer(&a.octets());
    for i in 0..1000 {
        w.upsert(&addr(1, i), &mn2, &addr(2, i)).unwrap();
    }
    assert!((0..1000).all(|i| peer(addr(1, i)) && peer(addr(2, i))));
    let spoofed = (0..10_000).filter(|&i| peer(addr(0x66, i))).count();
    assert!(spoofed < 10_000 / 20, "{spoofed} of 10000 spoofed sources look bound");
    // A care-of change and removals: live addresses never drop out; gone ones do once
    // enough removals pile up for a rebuild.
    w.upsert(&addr(1, 0), &mn2, &addr(4, 0)).unwrap();
    for i in 500..1000 {
        assert!(w.remove(&addr(1, i), &mn2));
        assert!((0..500).step_by(37).all(|j| peer(addr(1, j)) && peer(addr(2, j + 1))), "after removing {i}");
    }
    assert!(peer(addr(4, 0)));
    let gone = (500..1000).filter(|&i| peer(addr(1, i)) || peer(addr(2, i))).count();
    assert!(gone < 100, "{gone} of 500 removed bindings still look bound");
}
