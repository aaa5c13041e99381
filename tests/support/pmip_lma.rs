//! The test LMA's Proxy Mobile IPv6 side without I/O: a Proxy Binding Update in, the Proxy
//! Binding Acknowledgement out and the routes to change, as an RFC 5213 §5.3 LMA would
//! answer, plus the knobs the live tests need (fixed status, dropped PBUs, capped lifetime,
//! silence). `lma-peer` carries the bytes; unit tests and benchmarks drive it directly.
//!
//! Binding cache (§5.1): MN Identifier → home network prefixes, Proxy-CoA, lifetime. A PBU
//! asking `::/0` (§6.9.1.1) gets a /64 from the pool, the same one for the same MN-ID while
//! it is free; a PBU naming prefixes gets those. Deregistration (§5.3.5) or expiry removes
//! the entry, its routes, and returns its pool prefix.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use wire::mobility;
use wire::pmip::{self, status, PmipOptions, ProxyBindingAck, ProxyBindingUpdate};

/// RFC 6275 §6.1.7: lifetimes count units of 4 seconds.
pub const LIFETIME_UNIT_SECS: u64 = 4;

/// How the peer answers, from its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// Answer every PBU with this status and no prefix (`--pba-status N`).
    pub pba_status: Option<u8>,
    /// Silently drop this many PBUs first (`--drop-first-pbus N`).
    pub drop_first_pbus: u32,
    /// Grant at most this lifetime, in 4-second units (`--lifetime SECONDS`).
    pub max_lifetime_units: u16,
    /// Never answer (`--silent`).
    pub silent: bool,
    /// Where `::/0` requests get their /64 from (`--pool PREFIX/LEN`, LEN <= 63).
    pub pool: (Ipv6Addr, u8),
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            pba_status: None,
            drop_first_pbus: 0,
            max_lifetime_units: u16::MAX,
            silent: false,
            pool: (Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 0), 48),
        }
    }
}

/// A route change for the LMA's side of the tunnel: the prefix into (or out of) the TUN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    Add(Ipv6Addr, u8),
    Remove(Ipv6Addr, u8),
}

/// What one PBU leads to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The PBA to send: (source = the address the PBU was sent to, destination = the
    /// Proxy-CoA, the whole Mobility Header with its checksum filled).
    pub reply: Option<(Ipv6Addr, Ipv6Addr, Vec<u8>)>,
    /// The PBA as built, for logs and tests.
    pub pba: Option<ProxyBindingAck>,
    pub routes: Vec<Route>,
    /// One line for the PBU and one for the PBA (or why there is none).
    pub log: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub prefixes: Vec<(Ipv6Addr, u8)>,
    pub proxy_coa: Ipv6Addr,
    pub lifetime_units: u16,
    pub expires: Instant,
    /// The pool index of the prefix assigned from the pool, if one was.
    pool_index: Option<u32>,
}

pub struct Lma {
    knobs: Knobs,
    /// The one MAG this LMA serves (`--mag`): PBUs from elsewhere get 154 (§5.3.1).
    mag: Ipv6Addr,
    bindings: HashMap<Vec<u8>, Binding>,
    /// Pool index last given to each MN-ID, so it gets the same prefix back while free.
    last_index: HashMap<Vec<u8>, u32>,
    in_use: BTreeSet<u32>,
    pbus_seen: u64,
}

struct Shown<'a>(&'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.0))
    }
}

fn prefixes(p: &[(Ipv6Addr, u8)]) -> String {
    let v: Vec<String> = p.iter().map(|(a, l)| format!("{a}/{l}")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

/// Why a PBU is answered with a rejection before any binding change (RFC 5213 §5.3.1).
fn missing_option(o: &PmipOptions) -> Option<u8> {
    if o.mn_id.is_none() {
        Some(status::MISSING_MN_IDENTIFIER_OPTION)
    } else if o.home_network_prefixes.is_empty() {
        Some(status::MISSING_HOME_NETWORK_PREFIX_OPTION)
    } else if o.handoff_indicator.is_none() {
        Some(status::MISSING_HANDOFF_INDICATOR_OPTION)
    } else if o.access_technology.is_none() {
        Some(status::MISSING_ACCESS_TECH_TYPE_OPTION)
    } else {
        None
    }
}

impl Lma {
    pub fn new(mag: Ipv6Addr, knobs: Knobs) -> Lma {
        assert!(knobs.pool.1 < 64, "the pool must hold /64s");
        Lma { knobs, mag, bindings: HashMap::new(), last_index: HashMap::new(), in_use: BTreeSet::new(), pbus_seen: 0 }
    }

    pub fn binding(&self, mn_id: &[u8]) -> Option<&Binding> {
        self.bindings.get(mn_id)
    }

    pub fn bindings(&self) -> usize {
        self.bindings.len()
    }

    /// The MAG a downlink packet to `dst` goes to: the Proxy-CoA of the binding whose
    /// prefix covers it.
    pub fn proxy_coa_for(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        let covers = |(p, l): &(Ipv6Addr, u8)| {
            let mask = u128::MAX.checked_shl(128 - u32::from(*l)).unwrap_or(0);
            u128::from(*p) & mask == u128::from(dst) & mask
        };
        self.bindings.values().find(|b| b.prefixes.iter().any(covers)).map(|b| b.proxy_coa)
    }

    /// Pool prefix number `i` (1-based): the pool with `i` in the bits up to /64.
    fn pool_prefix(&self, i: u32) -> (Ipv6Addr, u8) {
        let (base, _) = self.knobs.pool;
        (Ipv6Addr::from(u128::from(base) | (u128::from(i) << 64)), 64)
    }

    fn pool_size(&self) -> u32 {
        // Index 0 (the pool's own first /64) is not handed out.
        let bits = 64 - u32::from(self.knobs.pool.1);
        if bits >= 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        }
    }

    /// The MN's previous index if free, else the lowest free one.
    fn allocate(&mut self, mn_id: &[u8]) -> Option<u32> {
        let i = match self.last_index.get(mn_id) {
            Some(&i) if !self.in_use.contains(&i) => i,
            _ => (1..=self.pool_size()).find(|i| !self.in_use.contains(i))?,
        };
        self.in_use.insert(i);
        self.last_index.insert(mn_id.to_vec(), i);
        Some(i)
    }

    fn release(&mut self, b: &Binding, routes: &mut Vec<Route>) {
        if let Some(i) = b.pool_index {
            self.in_use.remove(&i);
        }
        routes.extend(b.prefixes.iter().map(|&(p, l)| Route::Remove(p, l)));
    }

    /// Bindings whose lifetime ran out by `now` are deleted (RFC 6275 §9.1, the Binding
    /// Cache's lifetime field); their routes go.
    pub fn expire(&mut self, now: Instant) -> (Vec<Route>, Vec<String>) {
        let gone: Vec<Vec<u8>> = self.bindings.iter().filter(|(_, b)| b.expires <= now).map(|(k, _)| k.clone()).collect();
        let (mut routes, mut log) = (Vec::new(), Vec::new());
        for k in gone {
            let b = self.bindings.remove(&k).expect("listed above");
            log.push(format!("binding of {} expired: {} released", Shown(&k), prefixes(&b.prefixes)));
            self.release(&b, &mut routes);
        }
        (routes, log)
    }

    /// One Mobility Header received from `src` for `dst` (the LMA address it was sent to).
    pub fn handle(&mut self, src: Ipv6Addr, dst: Ipv6Addr, mh: &[u8], now: Instant) -> Outcome {
        let mut out = Outcome::default();
        // RFC 6275 §9.2: a bad checksum or an unparsable message is silently discarded.
        if !mobility::verify_checksum(&src, &dst, mh) {
            out.log.push(format!("dropped a Mobility Header from {src}: bad checksum"));
            return out;
        }
        let pbu = match ProxyBindingUpdate::parse(mh) {
            Ok(p) => p,
            Err(e) => {
                out.log.push(format!("dropped a Mobility Header from {src}: {e}"));
                return out;
            }
        };
        self.pbus_seen += 1;
        let o = &pbu.options;
        out.log.push(format!(
            "PBU seq {} from {src}: mn-id {} prefix {} hi {} att {} lifetime {} s{}",
            pbu.seq,
            o.mn_id.as_deref().map(Shown).map_or("none".into(), |s| s.to_string()),
            prefixes(&o.home_network_prefixes),
            o.handoff_indicator.map_or("none".into(), |h| h.to_string()),
            o.access_technology.map_or("none".into(), |a| a.to_string()),
            u64::from(pbu.lifetime_units) * LIFETIME_UNIT_SECS,
            o.timestamp.map_or(String::new(), |t| format!(" timestamp {t:#x}")),
        ));
        if self.pbus_seen <= u64::from(self.knobs.drop_first_pbus) {
            out.log.push(format!("no PBA: dropping PBU {} of the first {}", self.pbus_seen, self.knobs.drop_first_pbus));
            return out;
        }
        if self.knobs.silent {
            out.log.push("no PBA: silent".into());
            return out;
        }
        let (status, lifetime_units, prefixes) = self.decide(&pbu, src, now, &mut out.routes);
        // RFC 6275 §10.3.1 (applied by RFC 5213 §5.3.1): an accepted registration is
        // acknowledged when A is set; a rejection always is.
        if status < 128 && !pbu.ack {
            out.log.push("no PBA: the A flag is clear".into());
            return out;
        }
        let pba = ProxyBindingAck {
            status,
            proxy_reg: true,
            seq: pbu.seq,
            lifetime_units,
            // §5.3.1 and §8.2: the options of the PBU come back, with the prefixes granted.
            options: PmipOptions { home_network_prefixes: prefixes, ..pbu.options.clone() },
            ..Default::default()
        };
        let mut mh = pba.to_bytes();
        mobility::fill_checksum(&mut mh, &dst, &src).expect("a whole Mobility Header");
        out.log.push(format!(
            "PBA seq {} to {src}: status {status} ({}) prefix {} lifetime {} s",
            pba.seq,
            pmip::status_name(status),
            self::prefixes(&pba.options.home_network_prefixes),
            u64::from(lifetime_units) * LIFETIME_UNIT_SECS,
        ));
        out.reply = Some((dst, src, mh));
        out.pba = Some(pba);
        out
    }

    /// Status, granted lifetime and prefixes for `pbu`, applying binding and route changes.
    fn decide(&mut self, pbu: &ProxyBindingUpdate, src: Ipv6Addr, now: Instant, routes: &mut Vec<Route>) -> (u8, u16, Vec<(Ipv6Addr, u8)>) {
        let o = &pbu.options;
        if src != self.mag {
            return (status::MAG_NOT_AUTHORIZED_FOR_PROXY_REG, 0, Vec::new());
        }
        if let Some(s) = self.knobs.pba_status {
            return (s, 0, Vec::new());
        }
        if let Some(s) = missing_option(o) {
            return (s, 0, Vec::new());
        }
        let mn_id = o.mn_id.clone().expect("checked by missing_option");
        if pbu.is_deregistration() {
            // §5.3.5: delete the entry and answer 0 (also when there was none).
            if let Some(b) = self.bindings.remove(&mn_id) {
                self.release(&b, routes);
                return (status::ACCEPTED, 0, b.prefixes);
            }
            return (status::ACCEPTED, 0, o.home_network_prefixes.clone());
        }
        let old = self.bindings.get(&mn_id).cloned();
        let asks_lma = o.home_network_prefixes.iter().all(|(p, _)| p.is_unspecified());
        let (granted, pool_index) = if asks_lma {
            match old.as_ref().and_then(|b| b.pool_index.map(|i| (b.prefixes.clone(), i))) {
                Some((p, i)) => (p, Some(i)),
                None => match self.allocate(&mn_id) {
                    Some(i) => (vec![self.pool_prefix(i)], Some(i)),
                    None => return (status::INSUFFICIENT_RESOURCES, 0, Vec::new()),
                },
            }
        } else {
            (o.home_network_prefixes.clone(), None)
        };
        // A pool prefix the entry no longer uses goes back to the pool.
        if let Some(i) = old.as_ref().and_then(|b| b.pool_index) {
            if pool_index != Some(i) {
                self.in_use.remove(&i);
            }
        }
        let before: Vec<_> = old.map(|b| b.prefixes).unwrap_or_default();
        routes.extend(before.iter().filter(|p| !granted.contains(p)).map(|&(p, l)| Route::Remove(p, l)));
        routes.extend(granted.iter().filter(|p| !before.contains(p)).map(|&(p, l)| Route::Add(p, l)));
        let lifetime_units = pbu.lifetime_units.min(self.knobs.max_lifetime_units);
        let expires = now + Duration::from_secs(u64::from(lifetime_units) * LIFETIME_UNIT_SECS);
        self.bindings.insert(mn_id, Binding { prefixes: granted.clone(), proxy_coa: src, lifetime_units, expires, pool_index });
        (status::ACCEPTED, lifetime_units, granted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::pmip::{access_technology, handoff};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    fn mag() -> Ipv6Addr {
        a("2001:db8:c0::1")
    }
    fn lma_addr() -> Ipv6Addr {
        a("2001:db8:c0::2")
    }

    fn pbu(mn_id: &str, prefix: (Ipv6Addr, u8), lifetime_units: u16, seq: u16) -> ProxyBindingUpdate {
        ProxyBindingUpdate {
            seq,
            ack: true,
            home_reg: true,
            proxy_reg: true,
            lifetime_units,
            options: PmipOptions {
                mn_id: Some(mn_id.as_bytes().to_vec()),
                home_network_prefixes: vec![prefix],
                handoff_indicator: Some(handoff::NEW_ATTACHMENT),
                access_technology: Some(access_technology::IEEE_802_3),
                mn_link_layer_id: Some(vec![2, 0, 0, 0, 3, 0]),
                link_local_address: Some(a("fe80::1")),
                timestamp: Some(0x6553_f100_8000),
            },
            ..Default::default()
        }
    }

    fn any() -> (Ipv6Addr, u8) {
        (Ipv6Addr::UNSPECIFIED, 0)
    }

    /// Sends `u` from `src` and returns the outcome, checking the reply's addresses,
    /// checksum and sequence whenever there is one.
    fn send_from(l: &mut Lma, src: Ipv6Addr, u: &ProxyBindingUpdate, now: Instant) -> Outcome {
        let mut mh = u.to_bytes();
        mobility::fill_checksum(&mut mh, &src, &lma_addr()).unwrap();
        let out = l.handle(src, lma_addr(), &mh, now);
        if let Some((from, to, bytes)) = &out.reply {
            assert_eq!((*from, *to), (lma_addr(), src));
            assert!(mobility::verify_checksum(from, to, bytes));
            let pba = ProxyBindingAck::parse(bytes).unwrap();
            assert_eq!(Some(&pba), out.pba.as_ref());
            assert_eq!(pba.seq, u.seq);
        }
        out
    }

    fn send(l: &mut Lma, u: &ProxyBindingUpdate, now: Instant) -> Outcome {
        send_from(l, mag(), u, now)
    }

    fn pba(out: &Outcome) -> &ProxyBindingAck {
        out.pba.as_ref().expect("a PBA")
    }

    #[test]
    fn pool_assigns_a_64_and_echoes_the_options() {
        let now = Instant::now();
        let mut l = Lma::new(mag(), Knobs::default());
        let u = pbu("mn2@lab", any(), 225, 1);
        let out = send(&mut l, &u, now);
        let p = pba(&out);
        assert_eq!(p.status, 0);
        assert!(p.proxy_reg);
        assert_eq!(p.lifetime_units, 225);
        let hnp = (a("2001:db8:20:1::"), 64);
        assert_eq!(p.options, PmipOptions { home_network_prefixes: vec![hnp], ..u.options.clone() });
        assert_eq!(out.routes, [Route::Add(hnp.0, 64)]);
        assert_eq!(l.proxy_coa_for(a("2001:db8:20:1::1234")), Some(mag()));
        assert_eq!(l.proxy_coa_for(a("2001:db8:20:2::1")), None);
        assert_eq!(out.log.len(), 2, "{:?}", out.log);
        assert!(out.log[0].starts_with("PBU seq 1 from 2001:db8:c0::1: mn-id mn2@lab prefix ::/0"), "{}", out.log[0]);
        assert!(out.log[1].contains("status 0 (ACCEPTED) prefix 2001:db8:20:1::/64 lifetime 900 s"), "{}", out.log[1]);
    }

    #[test]
    fn same_mn_id_same_prefix_others_get_the_next() {
        let now = Instant::now();
        let mut l = Lma::new(mag(), Knobs::default());
        let first = pba(&send(&mut l, &pbu("a", any(), 10, 1), now)).options.home_network_prefixes.clone();
        let b = pba(&send(&mut l, &pbu("b", any(), 10, 1), now)).options.home_network_prefixes.clone();
        assert_eq!(b, [(a("2001:db8:20:2::"), 64)]);
        // A refresh (HI 5) of "a": the same prefix, no route change.
        let mut refresh = pbu("a", any(), 10, 2);
        refresh.options.handoff_indicator = Some(handoff::REREGISTRATION);
        let out = send(&mut l, &refresh, now);
        assert_eq!(pba(&out).options.home_network_prefixes, first);
        assert!(out.routes.is_empty());
        assert_eq!(l.bindings(), 2);
    }

    #[test]
    fn deregistration_releases_the_prefix() {
        let now = Instant::now();
        let mut l = Lma::new(mag(), Knobs::default());
        send(&mut l, &pbu("a", any(), 10, 1), now);
        send(&mut l, &pbu("b", any(), 10, 1), now);
        let out = send(&mut l, &pbu("a", any(), 0, 2), now);
        let p = pba(&out);
        assert_eq!((p.status, p.lifetime_units), (0, 0));
        assert_eq!(out.routes, [Route::Remove(a("2001:db8:20:1::"), 64)]);
        assert!(l.binding(b"a").is_none());
        assert_eq!(l.proxy_coa_for(a("2001:db8:20:1::1")), None);
        // The freed /64 goes to the next MN asking; "a" then gets a new one.
        let c = send(&mut l, &pbu("c", any(), 10, 1), now);
        assert_eq!(pba(&c).options.home_network_prefixes, [(a("2001:db8:20:1::"), 64)]);
        let again = send(&mut l, &pbu("a", any(), 10, 3), now);
        assert_eq!(pba(&again).options.home_network_prefixes, [(a("2001:db8:20:3::"), 64)]);
        // Deregistering what is not bound still answers 0 and changes nothing.
        let none = send(&mut l, &pbu("zz", any(), 0, 1), now);
        assert_eq!(pba(&none).status, 0);
        assert!(none.routes.is_empty());
    }

    #[test]
    fn a_returning_mn_gets_its_prefix_back_while_free() {
        let now = Instant::now();
        let mut l = Lma::new(mag(), Knobs::default());
        send(&mut l, &pbu("a", any(), 10, 1), now);
        send(&mut l, &pbu("b", any(), 10, 1), now);
        send(&mut l, &pbu("b", any(), 0, 2), now);
        let back = send(&mut l, &pbu("b", any(), 10, 3), now);
        assert_eq!(pba(&back).options.home_network_prefixes, [(a("2001:db8:20:2::"), 64)]);
    }

    #[test]
    fn requested_prefix_is_granted_and_routed() {
        let now = Instant::now();
        let mut l = Lma::new(mag(), Knobs::default());
        let mine = (a("2001:db8:3::"), 64);
        let out = send(&mut l, &pbu("a", mine, 10, 1), now);
        assert_eq!(pba(&out).options.home_network_prefixes, [mine]);
        assert_eq!(out.routes, [Route::Add(mine.0, 64)]);
        // Not taken from the pool.
        let b = send(&mut l, &pbu("b", any(), 10, 1), now);
        assert_eq!(pba(&b).options.home_network_prefixes, [(a("2001:db8:20:1::"), 64)]);
        let gone = send(&mut l, &pbu("a", mine, 0, 2), now);
        assert_eq!(gone.routes, [Route::Remove(mine.0, 64)]);
    }

    #[test]
    fn pba_status_knob_rejects_without_prefix() {
        let now = Instant::now();
        let knobs = Knobs { pba_status: Some(status::NOT_LMA_FOR_THIS_MOBILE_NODE), ..Default::default() };
        let mut l = Lma::new(mag(), knobs);
        let out = send(&mut l, &pbu("a", any(), 10, 9), now);
        let p = pba(&out);
        assert_eq!((p.status, p.lifetime_units), (153, 0));
        assert!(p.options.home_network_prefixes.is_empty());
        assert_eq!(p.options.mn_id.as_deref(), Some(&b"a"[..]));
        assert!(out.routes.is_empty());
        assert_eq!(l.bindings(), 0);
        assert!(out.log[1].contains("status 153 (NOT_LMA_FOR_THIS_MOBILE_NODE)"), "{}", out.log[1]);
    }

    #[test]
    fn drop_first_knob_drops_then_answers() {
        let now = Instant::now();
        let mut l = Lma::new(mag(), Knobs { drop_first_pbus: 2, ..Default::default() });
        for seq in 1..=2 {
            let out = send(&mut l, &pbu("a", any(), 10, seq), now);
            assert!(out.reply.is_none() && out.routes.is_empty());
            assert!(out.log[1].contains("dropping PBU"), "{:?}", out.log);
        }
        assert_eq!(l.bindings(), 0);
        let out = send(&mut l, &pbu("a", any(), 10, 3), now);
        assert_eq!(pba(&out).status, 0);
        assert_eq!(pba(&out).seq, 3);
    }

    #[test]
    fn lifetime_knob_caps_the_grant_and_bindings_expire() {
        let now = Instant::now();
        let mut l = Lma::new(mag(), Knobs { max_lifetime_units: 3, ..Default::default() });
        assert_eq!(pba(&send(&mut l, &pbu("a", any(), 225, 1), now)).lifetime_units, 3);
        assert_eq!(pba(&send(&mut l, &pbu("b", any(), 2, 1), now)).lifetime_units, 2);
        let (routes, _) = l.expire(now + Duration::from_secs(11));
        assert_eq!(routes, [Route::Remove(a("2001:db8:20:2::"), 64)], "b (8 s) gone, a (12 s) not");
        let (routes, log) = l.expire(now + Duration::from_secs(12));
        assert_eq!(routes, [Route::Remove(a("2001:db8:20:1::"), 64)]);
        assert!(log[0].contains("binding of a expired"), "{log:?}");
        assert_eq!(l.bindings(), 0);
    }

    #[test]
    fn silent_knob_never_answers() {
        let now = Instant::now();
        let mut l = Lma::new(mag(), Knobs { silent: true, ..Default::default() });
        let out = send(&mut l, &pbu("a", any(), 10, 1), now);
        assert!(out.reply.is_none());
        assert_eq!(l.bindings(), 0);
        assert_eq!(out.log.len(), 2);
    }

    #[test]
    fn rfc_rejections() {
        let now = Instant::now();
        let mut l = Lma::new(mag(), Knobs::default());
        let from_elsewhere = send_from(&mut l, a("2001:db8:c0::7"), &pbu("a", any(), 10, 1), now);
        assert_eq!(pba(&from_elsewhere).status, status::MAG_NOT_AUTHORIZED_FOR_PROXY_REG);
        let mut u = pbu("a", any(), 10, 1);
        u.options.mn_id = None;
        assert_eq!(pba(&send(&mut l, &u, now)).status, status::MISSING_MN_IDENTIFIER_OPTION);
        let mut u = pbu("a", any(), 10, 1);
        u.options.home_network_prefixes.clear();
        assert_eq!(pba(&send(&mut l, &u, now)).status, status::MISSING_HOME_NETWORK_PREFIX_OPTION);
        let mut u = pbu("a", any(), 10, 1);
        u.options.handoff_indicator = None;
        assert_eq!(pba(&send(&mut l, &u, now)).status, status::MISSING_HANDOFF_INDICATOR_OPTION);
        let mut u = pbu("a", any(), 10, 1);
        u.options.access_technology = None;
        assert_eq!(pba(&send(&mut l, &u, now)).status, status::MISSING_ACCESS_TECH_TYPE_OPTION);
        assert_eq!(l.bindings(), 0);
        // Without A an acceptance is not acknowledged, but the binding is made.
        let mut u = pbu("a", any(), 10, 1);
        u.ack = false;
        let out = send(&mut l, &u, now);
        assert!(out.reply.is_none());
        assert_eq!(l.bindings(), 1);
    }

    #[test]
    fn pool_exhaustion_is_insufficient_resources() {
        let now = Instant::now();
        // A /62 pool holds /64 numbers 1..=3.
        let mut l = Lma::new(mag(), Knobs { pool: (a("2001:db8:20::"), 62), ..Default::default() });
        for id in ["a", "b", "c"] {
            assert_eq!(pba(&send(&mut l, &pbu(id, any(), 10, 1), now)).status, 0);
        }
        let out = send(&mut l, &pbu("d", any(), 10, 1), now);
        assert_eq!(pba(&out).status, status::INSUFFICIENT_RESOURCES);
        assert!(out.routes.is_empty());
    }

    #[test]
    fn bad_input_is_dropped_silently() {
        let now = Instant::now();
        let mut l = Lma::new(mag(), Knobs::default());
        let mut mh = pbu("a", any(), 10, 1).to_bytes();
        mobility::fill_checksum(&mut mh, &mag(), &lma_addr()).unwrap();
        mh[10] ^= 1;
        let out = l.handle(mag(), lma_addr(), &mh, now);
        assert!(out.reply.is_none());
        assert!(out.log[0].contains("bad checksum"));
        // A plain Binding Update (no P flag) is not a PBU.
        let mut u = pbu("a", any(), 10, 1);
        u.proxy_reg = false;
        let mut mh = u.to_bytes();
        mobility::fill_checksum(&mut mh, &mag(), &lma_addr()).unwrap();
        let out = l.handle(mag(), lma_addr(), &mh, now);
        assert!(out.reply.is_none());
        assert!(out.log[0].contains("proxy registration flag"), "{:?}", out.log);
        assert_eq!(l.bindings(), 0);
    }
}
