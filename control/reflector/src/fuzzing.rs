//! The check of fuzz target `reflector` (`fuzz/`), shared with the regression test that
//! replays `fuzz/regressions/reflector/` (feature `fuzzing`). The input is a sequence of
//! events built structure-aware: Home and Care-of Test Inits, Binding Updates signed with
//! the tokens the reflector really handed out (or with stale or wrong keys), raw Mobility
//! Headers, clock ticks and detaches, for a few mobile nodes and attached nodes. After each
//! event:
//! - the cache never holds more than its cap (RFC 6275 §9.5.2's status 130 instead);
//! - the cache holds exactly what the published actions say (created, refreshed, deleted),
//!   and a binding is created or refreshed only by a Binding Update the harness signed with
//!   the reflector's own tokens (§5.2.6): nothing else may get one in;
//! - stored sequence numbers only move forward (§9.5.1), also across a deleted binding's
//!   tombstone (§5.2.8);
//! - every reply comes from the attached node with a checksum that verifies.

use core::net::Ipv6Addr;
use std::collections::HashMap;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use wire::mobility::{self, BindingUpdate, CareOfTest, CareOfTestInit, HomeTest, HomeTestInit};
use wire::testpkt;

use crate::cache::{Binding, BindingKey};
use crate::crypto::{self, KeygenToken};
use crate::nonces::MAX_NONCE_LIFETIME;
use crate::reflector::{seq_is_newer, Action, Config, DeleteReason, Inbound, Reflector, Reply};
use crate::TestEntropy;

fn home(i: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100 + u16::from(i % 3))
}
fn care_of(i: u8) -> Ipv6Addr {
    // Index 3 is the home address itself: a mobile node back home (§9.5.3's deregistration).
    if i % 4 == 3 {
        return home(0);
    }
    Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x200 + u16::from(i % 4))
}
fn attached(i: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 0x300 + u16::from(i % 2))
}

#[derive(Arbitrary, Debug)]
enum Sign {
    /// With Kbm from the latest tokens the reflector gave for these addresses (§5.2.5).
    Tokens,
    /// With a key of the fuzzer's.
    Key([u8; 20]),
    /// Not at all (the zero authenticator).
    Unsigned,
}

#[derive(Arbitrary, Debug)]
enum Event {
    HomeTestInit {
        mn: u8,
        cn: u8,
        cookie: [u8; 8],
    },
    CareOfTestInit {
        coa: u8,
        cn: u8,
        cookie: [u8; 8],
    },
    BindingUpdate {
        mn: u8,
        coa: u8,
        cn: u8,
        seq: u16,
        lifetime_units: u16,
        flags: u8,
        nonce_indices: Option<(u16, u16)>,
        sign: Sign,
    },
    /// Any Mobility Header, from a mobile node's care-of address (with its home address in
    /// a Home Address option) or from its home address.
    Raw {
        mn: u8,
        coa: Option<u8>,
        cn: u8,
        fix_checksum: bool,
        mh: Vec<u8>,
    },
    UnverifiedHomeAddress {
        mn: u8,
        coa: u8,
        cn: u8,
    },
    /// The clock moves this many seconds, ticking every second.
    Tick(u8),
    Detach(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    max_bindings: u8,
    max_lifetime: u16,
    limited: bool,
    events: Vec<Event>,
}

/// The reflector, its clock, what the mobile nodes learnt from it, and the harness's model
/// of the cache built from the actions alone.
struct World {
    r: Reflector,
    rng: TestEntropy,
    now: Duration,
    home_tokens: HashMap<(Ipv6Addr, Ipv6Addr), (u16, KeygenToken)>,
    care_of_tokens: HashMap<(Ipv6Addr, Ipv6Addr), (u16, KeygenToken)>,
    model: HashMap<BindingKey, Binding>,
    /// Sequence numbers a deleted binding left behind, and until when (§5.2.8).
    tombstones: HashMap<BindingKey, (u16, Duration)>,
}

pub fn reflector(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let cfg = Config {
        max_bindings: usize::from(input.max_bindings % 4) + 1,
        max_lifetime: Duration::from_secs(u64::from(input.max_lifetime % 417) + 4),
        ..if input.limited { Config::default() } else { Config { replies_per_sec_per_source: 1000, reply_burst_per_source: 1000, ..Config::default() } }
    };
    let mut rng = TestEntropy::new(input.seed);
    let r = Reflector::new(cfg, Duration::ZERO, &mut rng);
    let mut w =
        World { r, rng, now: Duration::ZERO, home_tokens: HashMap::new(), care_of_tokens: HashMap::new(), model: HashMap::new(), tombstones: HashMap::new() };
    for e in input.events.iter().take(64) {
        w.event(e);
    }
}

impl World {
    fn feed(&mut self, src: Ipv6Addr, cn: Ipv6Addr, hao: Option<Ipv6Addr>, mh: &[u8]) -> Vec<Action> {
        let p = match hao {
            Some(h) => testpkt::with_hao(src, cn, h, mobility::NEXT_HEADER, mh),
            None => testpkt::ip6(src, cn, mobility::NEXT_HEADER, 64, mh),
        };
        let inb = Inbound { src, dst: cn, home_address: hao, ipv6_packet: &p, mh_offset: p.len() - mh.len() };
        let mut out = vec![];
        self.r.on_mobility(self.now, &inb, &mut out);
        out
    }

    fn event(&mut self, e: &Event) {
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("{:?} {e:?}", self.now);
        }
        let mut signed_with_tokens = None;
        let out = match *e {
            Event::HomeTestInit { mn, cn, cookie } => {
                let (h, cn) = (home(mn), attached(cn));
                let mut mh = HomeTestInit { cookie }.to_bytes();
                mobility::fill_checksum(&mut mh, &h, &cn).expect("room");
                let out = self.feed(h, cn, None, &mh);
                for r in replies(&out) {
                    if let Ok(hot) = HomeTest::parse(r) {
                        assert_eq!(hot.cookie, cookie, "HoT cookie");
                        self.home_tokens.insert((h, cn), (hot.nonce_index, hot.token));
                    }
                }
                out
            }
            Event::CareOfTestInit { coa, cn, cookie } => {
                let (c, cn) = (care_of(coa), attached(cn));
                let mut mh = CareOfTestInit { cookie }.to_bytes();
                mobility::fill_checksum(&mut mh, &c, &cn).expect("room");
                let out = self.feed(c, cn, None, &mh);
                for r in replies(&out) {
                    if let Ok(cot) = CareOfTest::parse(r) {
                        assert_eq!(cot.cookie, cookie, "CoT cookie");
                        self.care_of_tokens.insert((c, cn), (cot.nonce_index, cot.token));
                    }
                }
                out
            }
            Event::BindingUpdate { mn, coa, cn, seq, lifetime_units, flags, nonce_indices, ref sign } => {
                let (h, c, cn) = (home(mn), care_of(coa), attached(cn));
                let ht = self.home_tokens.get(&(h, cn)).copied();
                let ct = self.care_of_tokens.get(&(c, cn)).copied();
                let dereg = lifetime_units == 0 || c == h;
                let indices = match (nonce_indices, ht) {
                    (Some(n), _) => Some(n),
                    (None, Some(ht)) => Some((ht.0, ct.map_or(0, |t| t.0))),
                    (None, None) => None,
                };
                let bu = BindingUpdate {
                    seq,
                    ack: flags & 1 != 0,
                    home_reg: flags & 2 != 0,
                    key_mgmt: flags & 4 != 0,
                    lifetime_units,
                    nonce_indices: indices,
                    alt_care_of: (flags & 8 != 0).then_some(c),
                    has_bad: flags & 16 == 0,
                    ..Default::default()
                };
                let mut mh = bu.to_bytes();
                let kbm = match (sign, ht, ct) {
                    (Sign::Tokens, Some(ht), _) if dereg => Some(crypto::binding_key(&ht.1, None)),
                    (Sign::Tokens, Some(ht), Some(ct)) => Some(crypto::binding_key(&ht.1, Some(&ct.1))),
                    (Sign::Key(k), _, _) => Some(*k),
                    _ => None,
                };
                if let Some(kbm) = kbm {
                    if bu.has_bad {
                        crypto::sign(&mut mh, &kbm, &c, &cn).expect("a BU with BAD");
                    }
                    if matches!(sign, Sign::Tokens) && bu.has_bad && !bu.home_reg && indices.is_some_and(|i| Some(i.0) == ht.map(|t| t.0)) {
                        signed_with_tokens = Some((h, cn));
                    }
                }
                mobility::fill_checksum(&mut mh, &h, &cn).expect("room");
                // From the care-of address with the home address option, or from home.
                if c == h {
                    self.feed(c, cn, None, &mh)
                } else {
                    self.feed(c, cn, Some(h), &mh)
                }
            }
            Event::Raw { mn, coa, cn, fix_checksum, ref mh } => {
                let (h, cn) = (home(mn), attached(cn));
                let mut mh = mh.clone();
                if fix_checksum {
                    let _ = mobility::fill_checksum(&mut mh, &h, &cn);
                }
                match coa {
                    Some(c) => self.feed(care_of(c), cn, Some(h), &mh),
                    None => self.feed(h, cn, None, &mh),
                }
            }
            Event::UnverifiedHomeAddress { mn, coa, cn } => {
                let mut out = vec![];
                self.r.on_unverified_home_address(self.now, care_of(coa), attached(cn), home(mn), &mut out);
                out
            }
            Event::Tick(secs) => {
                // Checked after every tick: a deletion's tombstone dates from its tick.
                for _ in 0..secs {
                    self.now += Duration::from_secs(1);
                    let mut out = vec![];
                    self.r.on_tick(self.now, &mut self.rng, &mut out);
                    self.check(e, &out, None);
                }
                vec![]
            }
            Event::Detach(cn) => {
                let mut out = vec![];
                self.r.detach(attached(cn), &mut out);
                out
            }
        };
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("  -> {out:?}");
        }
        self.check(e, &out, signed_with_tokens);
    }

    fn check(&mut self, e: &Event, out: &[Action], signed_with_tokens: Option<BindingKey>) {
        for a in out {
            match a {
                Action::Send(Reply::Mobility { src, dst, rh2_home, mh, .. }) => {
                    assert!(*src == attached(0) || *src == attached(1), "reply not from an attached node: {a:?}");
                    assert!(mobility::verify_checksum(src, &rh2_home.unwrap_or(*dst), mh), "reply checksum: {a:?}");
                }
                Action::Send(Reply::ParameterProblem { src, .. }) => assert!(*src == attached(0) || *src == attached(1)),
                Action::BindingCreated(b) | Action::BindingRefreshed(b) => {
                    assert_eq!(signed_with_tokens, Some(b.key()), "a binding made without a BU signed with the reflector's tokens: {e:?}");
                    let old = self.model.insert(b.key(), *b);
                    match (a, old) {
                        (Action::BindingCreated(_), None) => {
                            if let Some((seq, until)) = self.tombstones.remove(&b.key()) {
                                if self.now < until {
                                    assert!(seq_is_newer(b.seq, seq), "a deleted binding came back with sequence {} after {seq}", b.seq);
                                }
                            }
                        }
                        (Action::BindingRefreshed(_), Some(old)) => assert!(seq_is_newer(b.seq, old.seq), "sequence went from {} to {}", old.seq, b.seq),
                        _ => panic!("{a:?} does not match the cache before it: {old:?}"),
                    }
                }
                Action::BindingDeleted { key, reason } => {
                    let old = self.model.remove(key).expect("deleted a binding that was never published");
                    match reason {
                        DeleteReason::Expired | DeleteReason::Detached => {
                            self.tombstones.insert(*key, (old.seq, self.now + MAX_NONCE_LIFETIME));
                        }
                        // The tombstone then holds the deregistration's sequence number.
                        DeleteReason::Deregistered => drop(self.tombstones.remove(key)),
                    }
                }
                Action::Deregistered { home, attached, .. } => drop(self.tombstones.remove(&(*home, *attached))),
                Action::Dropped(_) | Action::Rejected { .. } => {}
            }
        }
        let cap = self.r.config().max_bindings;
        assert!(self.r.binding_count() <= cap, "{} bindings over the cap of {cap}", self.r.binding_count());
        let cache: HashMap<BindingKey, Binding> = self.r.bindings().map(|b| (b.key(), *b)).collect();
        assert_eq!(cache.len(), self.r.binding_count());
        assert_eq!(cache, self.model, "the cache differs from what the actions published");
        for b in cache.values() {
            assert!(b.expires >= self.now, "an expired binding survived a tick");
            assert!(b.lifetime <= self.r.config().max_lifetime);
        }
    }
}

/// The Mobility Headers sent in `out`.
fn replies(out: &[Action]) -> impl Iterator<Item = &[u8]> {
    out.iter().filter_map(|a| match a {
        Action::Send(Reply::Mobility { mh, .. }) => Some(mh.as_slice()),
        _ => None,
    })
}
