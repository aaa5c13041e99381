//! The reflector: RFC 6275 §9 correspondent-node processing on behalf of attached nodes.
//!
//! Every reply is sourced from the attached node's address (draft §4.1.1), so the mobile
//! node cannot tell the agent from a Mobile-IPv6-capable correspondent.

use core::net::Ipv6Addr;
use std::time::Duration;

// The addresses we answer and accept as home or care-of addresses (RFC 6275 §9.5.1
// "unicast routable"; §9.3.2 no RH2 to link-local or multicast).
use wire::addr::is_routable_unicast;
use wire::mobility::{
    self, ba_status, be_status, mh_type, BindingAck, BindingError, BindingUpdate, CareOfTest, CareOfTestInit, Header, HomeTest, HomeTestInit,
};

use crate::cache::{Binding, BindingCache, BindingKey};
use crate::crypto;
use crate::entropy::Entropy;
use crate::limits::{LimitConfig, RateLimiter};
use crate::nonces::{NonceTable, MAX_RR_BINDING_LIFETIME};

/// Reflector settings. Every field has a default (see [`Config::default`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// How often a new nonce (and Kcn) is made; clamped to 1..=30 s (see `nonces`).
    pub nonce_interval: Duration,
    /// Binding cache capacity; a Binding Update that needs a new entry beyond it gets 130.
    pub max_bindings: usize,
    /// Upper bound on granted lifetimes; never above MAX_RR_BINDING_LIFETIME (420 s).
    pub max_lifetime: Duration,
    /// Replies per second to any one source (sustained), and the burst allowed.
    pub replies_per_sec_per_source: u32,
    pub reply_burst_per_source: u32,
    /// Replies per second overall (sustained), and the burst allowed.
    pub replies_per_sec_total: u32,
    pub reply_burst_total: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nonce_interval: Duration::from_secs(30),
            max_bindings: 1 << 20,
            max_lifetime: MAX_RR_BINDING_LIFETIME,
            // A return-routability run is HoTI + CoTI + BU: three replies at once.
            replies_per_sec_per_source: 5,
            reply_burst_per_source: 10,
            replies_per_sec_total: 1000,
            reply_burst_total: 2000,
        }
    }
}

/// A Mobility Header packet addressed to an attached node with the agent enabled.
#[derive(Clone, Copy, Debug)]
pub struct Inbound<'a> {
    /// IPv6 source as received (the care-of address for BU/CoTI, the home address for HoTI).
    pub src: Ipv6Addr,
    /// The attached node (correspondent) address.
    pub dst: Ipv6Addr,
    /// From a Home Address destination option, if any.
    pub home_address: Option<Ipv6Addr>,
    /// The whole IPv6 packet as received (for ICMP error quoting).
    pub ipv6_packet: &'a [u8],
    /// Where the Mobility Header starts in `ipv6_packet`.
    pub mh_offset: usize,
}

/// Something for the control loop to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Send(Reply),
    BindingCreated(Binding),
    BindingRefreshed(Binding),
    BindingDeleted {
        key: BindingKey,
        reason: DeleteReason,
    },
    /// A silent drop; the reason doubles as a counter name.
    Dropped(DropReason),
    /// A Binding Update was refused (for logs); the BA itself, if any, is a `Send`.
    Rejected {
        status: u8,
        home: Ipv6Addr,
        care_of: Ipv6Addr,
    },
    /// A deregistration was authenticated (RFC 6275 §5.2.6) with this address as care-of.
    Deregistered {
        home: Ipv6Addr,
        attached: Ipv6Addr,
        with: DeregAuthenticatedWith,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A Mobility Header message, checksum filled for (src, final destination =
    /// `rh2_home.unwrap_or(dst)`). Send it from `src` to `dst`, with a Type 2 Routing Header
    /// carrying `rh2_home` when present.
    Mobility { src: Ipv6Addr, dst: Ipv6Addr, rh2_home: Option<Ipv6Addr>, mh_type: u8, status: Option<u8>, mh: Vec<u8> },
    /// ICMPv6 Parameter Problem code 0 pointing at `pointer` (offset from the start of the
    /// invoking IPv6 packet); the control loop builds it with the invoking packet.
    ParameterProblem { src: Ipv6Addr, dst: Ipv6Addr, pointer: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeleteReason {
    Deregistered,
    Expired,
    Detached,
}

/// Which address stood for the care-of address in a deregistration's authenticator:
/// RFC 6275 reads as the home address for a mobile node back home, implementations (UMIP)
/// use the current care-of address when deregistering from a foreign link. Both are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeregAuthenticatedWith {
    CareOf,
    Home,
}

/// Why a packet was dropped without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than 6 bytes or than its Header Len says, or `mh_offset` past the packet.
    Truncated,
    /// RFC 6275 §9.2.
    BadChecksum,
    /// Source address we must not answer (multicast, unspecified, loopback).
    BadSource,
    /// HoTI or CoTI with a Home Address option (§9.4.1, §9.4.2).
    TestInitWithHomeAddress,
    /// A message of a known type whose body or options do not parse.
    Malformed,
    /// HoT, CoT, BA, BE or BRR: messages a correspondent node does not process.
    NotForCorrespondent,
    /// BU whose home or care-of address, or HoTI/CoTI whose source, is not unicast routable
    /// (§9.5.1; a keygen token for a link-local address is of no use).
    BadAddress,
    /// BU without H and without a Nonce Indices option (§9.5.1).
    MissingNonceIndices,
    /// BU without H and without a Binding Authorization Data option (§9.5.1).
    MissingAuthData,
    /// BU with H and a Nonce Indices option, which "MUST NOT be present" (§9.5.1).
    NonceIndicesWithHomeRegistration,
    /// The authenticator does not verify (§9.5.1, §5.2.6).
    BadAuthenticator,
    /// A reply was due but the rate limit refused it.
    RateLimited,
}

impl DropReason {
    pub const ALL: [DropReason; 12] = [
        DropReason::Truncated,
        DropReason::BadChecksum,
        DropReason::BadSource,
        DropReason::TestInitWithHomeAddress,
        DropReason::Malformed,
        DropReason::NotForCorrespondent,
        DropReason::BadAddress,
        DropReason::MissingNonceIndices,
        DropReason::MissingAuthData,
        DropReason::NonceIndicesWithHomeRegistration,
        DropReason::BadAuthenticator,
        DropReason::RateLimited,
    ];

    /// A stable snake_case name for counters.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::BadSource => "bad_source",
            DropReason::TestInitWithHomeAddress => "test_init_with_home_address",
            DropReason::Malformed => "malformed",
            DropReason::NotForCorrespondent => "not_for_correspondent",
            DropReason::BadAddress => "bad_address",
            DropReason::MissingNonceIndices => "missing_nonce_indices",
            DropReason::MissingAuthData => "missing_auth_data",
            DropReason::NonceIndicesWithHomeRegistration => "nonce_indices_with_home_registration",
            DropReason::BadAuthenticator => "bad_authenticator",
            DropReason::RateLimited => "rate_limited",
        }
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Counters the reflector keeps itself (the control loop counts `Action`s for the rest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub home_tests: u64,
    pub care_of_tests: u64,
    pub binding_acks: u64,
    pub binding_errors: u64,
    pub parameter_problems: u64,
    pub dereg_auth_care_of: u64,
    pub dereg_auth_home: u64,
    pub nonce_rotations: u64,
}

/// The correspondent-node state machine for every attached node with the agent enabled.
pub struct Reflector {
    cfg: Config,
    nonces: NonceTable,
    cache: BindingCache,
    limiter: RateLimiter,
    stats: Stats,
    /// The latest time seen, for calls that carry none (`detach`).
    now: Duration,
    last_prune: Duration,
}

/// RFC 6275 §9.5.1: `new` is newer than `last` unless it lies in the range of `last` and
/// the preceding 32768 values, inclusive (modulo 2^16). So Δ = new − last must be in
/// [1, 32767]; Δ = 32768 is "less than or equal".
pub fn seq_is_newer(new: u16, last: u16) -> bool {
    let d = new.wrapping_sub(last);
    (1..=32767).contains(&d)
}

/// Sources we may send anything to (RFC 4443 §2.4(e)).
fn is_answerable(a: &Ipv6Addr) -> bool {
    !(a.is_multicast() || a.is_unspecified() || a.is_loopback())
}

impl Reflector {
    pub fn new(cfg: Config, now: Duration, rng: &mut dyn Entropy) -> Self {
        let limits = LimitConfig {
            per_source_rate: cfg.replies_per_sec_per_source,
            per_source_burst: cfg.reply_burst_per_source,
            total_rate: cfg.replies_per_sec_total,
            total_burst: cfg.reply_burst_total,
        };
        Reflector {
            nonces: NonceTable::new(now, cfg.nonce_interval, rng),
            cache: BindingCache::new(cfg.max_bindings),
            limiter: RateLimiter::new(limits, now),
            stats: Stats::default(),
            cfg,
            now,
            last_prune: now,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn nonces(&self) -> &NonceTable {
        &self.nonces
    }

    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.cache.iter()
    }

    pub fn binding_count(&self) -> usize {
        self.cache.len()
    }

    pub fn lookup(&self, home: &Ipv6Addr, attached: &Ipv6Addr) -> Option<&Binding> {
        self.cache.get(&(*home, *attached))
    }

    fn advance(&mut self, now: Duration) {
        self.now = self.now.max(now);
    }

    /// A Mobility Header packet addressed to an attached node with the agent enabled
    /// (RFC 6275 §9.2, then §9.4.1, §9.4.2, §9.5.1).
    pub fn on_mobility(&mut self, now: Duration, pkt: &Inbound, out: &mut Vec<Action>) {
        self.advance(now);
        let Some(rest) = pkt.ipv6_packet.get(pkt.mh_offset..) else {
            return out.push(Action::Dropped(DropReason::Truncated));
        };
        let Ok(header) = Header::new_checked(rest) else {
            return out.push(Action::Dropped(DropReason::Truncated));
        };
        let mh = header.message();
        if !is_answerable(&pkt.src) {
            return out.push(Action::Dropped(DropReason::BadSource));
        }
        // §9.2: the checksum first. Pseudo-header source is the home address when a Home
        // Address option is present; destination is the attached node (no RH2 inbound).
        let pseudo_src = pkt.home_address.unwrap_or(pkt.src);
        if !header.verify_checksum(&pseudo_src, &pkt.dst) {
            return out.push(Action::Dropped(DropReason::BadChecksum));
        }
        let kind = header.mh_type();
        // §9.2: unknown MH Type → Binding Error status 2 (§9.3.3), to the source without RH2.
        let Some(min_len) = mobility::min_header_len(kind) else {
            let home = pkt.home_address.unwrap_or(Ipv6Addr::UNSPECIFIED);
            return self.send_binding_error(now, pkt.dst, pkt.src, be_status::UNRECOGNIZED_MH_TYPE, home, out);
        };
        // §9.2: Payload Proto ≠ 59 and a too-small Header Len are answered with Parameter
        // Problem code 0 pointing at the field, sent directly to the source.
        if header.payload_proto() != mobility::PAYLOAD_PROTO_NONE {
            return self.send_parameter_problem(now, pkt, mobility::PAYLOAD_PROTO_OFFSET, out);
        }
        if header.header_len() < min_len {
            return self.send_parameter_problem(now, pkt, mobility::HEADER_LEN_OFFSET, out);
        }
        match kind {
            mh_type::HOME_TEST_INIT => self.on_test_init(now, pkt, mh, true, out),
            mh_type::CARE_OF_TEST_INIT => self.on_test_init(now, pkt, mh, false, out),
            mh_type::BINDING_UPDATE => self.on_binding_update(now, pkt, mh, out),
            _ => out.push(Action::Dropped(DropReason::NotForCorrespondent)),
        }
    }

    /// §9.4.1, §9.4.2: HoT to the HoTI's source (the home address: the HoTI came through the
    /// home agent) with the home keygen token, CoT to the CoTI's source (the care-of address)
    /// with the care-of keygen token; both with the current nonce. No state.
    fn on_test_init(&mut self, now: Duration, pkt: &Inbound, mh: &[u8], home: bool, out: &mut Vec<Action>) {
        if pkt.home_address.is_some() {
            return out.push(Action::Dropped(DropReason::TestInitWithHomeAddress));
        }
        if !is_routable_unicast(&pkt.src) {
            return out.push(Action::Dropped(DropReason::BadAddress));
        }
        let cookie = if home { HomeTestInit::parse(mh).map(|m| m.cookie) } else { CareOfTestInit::parse(mh).map(|m| m.cookie) };
        let Ok(cookie) = cookie else {
            return out.push(Action::Dropped(DropReason::Malformed));
        };
        if !self.allow_reply(pkt.src, now) {
            return out.push(Action::Dropped(DropReason::RateLimited));
        }
        let n = self.nonces.current();
        let (kind, reply) = if home {
            self.stats.home_tests += 1;
            let token = n.home_token(&pkt.src);
            (mh_type::HOME_TEST, HomeTest { nonce_index: n.index, cookie, token }.to_bytes())
        } else {
            self.stats.care_of_tests += 1;
            let token = n.care_of_token(&pkt.src);
            (mh_type::CARE_OF_TEST, CareOfTest { nonce_index: n.index, cookie, token }.to_bytes())
        };
        self.send_mobility(pkt.dst, pkt.src, None, kind, None, reply, out);
    }

    /// §9.5.1–§9.5.4.
    fn on_binding_update(&mut self, now: Duration, pkt: &Inbound, mh: &[u8], out: &mut Vec<Action>) {
        let Ok(bu) = BindingUpdate::parse(mh) else {
            return out.push(Action::Dropped(DropReason::Malformed));
        };
        // §9.5.1: "a unicast routable home address, either in the Home Address option or in
        // the Source Address, if the Home Address option is not used" (a mobile node back
        // home deregisters from its home address without the option).
        let home = pkt.home_address.unwrap_or(pkt.src);
        let care_of = bu.alt_care_of.unwrap_or(pkt.src);
        if !is_routable_unicast(&home) || !is_routable_unicast(&care_of) {
            return out.push(Action::Dropped(DropReason::BadAddress));
        }
        let attached = pkt.dst;
        let key = (home, attached);
        let ctx = BaContext { src: attached, care_of, home, limit_source: pkt.src };

        if bu.home_reg {
            return self.on_home_registration(now, &bu, &ctx, out);
        }

        let Some((home_index, care_of_index)) = bu.nonce_indices else {
            return out.push(Action::Dropped(DropReason::MissingNonceIndices));
        };
        if !bu.has_bad {
            return out.push(Action::Dropped(DropReason::MissingAuthData));
        }
        let dereg = bu.is_deregistration(&care_of, &home);

        // Nonce indices recent enough (§9.5.1, §5.2.7); the care-of one is not inspected for
        // a deregistration. Statuses 136–138 carry no BAD: there is no Kbm to sign with.
        // The tokens are all that is needed of the nonces (no entry is cloned).
        let home_token = self.nonces.get(home_index, now).map(|n| n.home_token(&home));
        let care_of_token = if dereg { None } else { self.nonces.get(care_of_index, now).map(|n| n.care_of_token(&care_of)) };
        let expired = match (&home_token, dereg, &care_of_token) {
            (None, true, _) | (None, false, Some(_)) => Some(ba_status::EXPIRED_HOME_NONCE_INDEX),
            (Some(_), false, None) => Some(ba_status::EXPIRED_CARE_OF_NONCE_INDEX),
            (None, false, None) => Some(ba_status::EXPIRED_NONCES),
            _ => None,
        };
        if let Some(status) = expired {
            return self.reject(now, status, None, bu.seq, &ctx, out);
        }
        let Some(home_token) = home_token else { return };

        // Kbm and the authenticator (§5.2.5, §5.2.6): care-of address = Alternate CoA or
        // source; correspondent = the attached node.
        let (kbm, auth_care_of) = if dereg {
            let kbm = crypto::binding_key(&home_token, None);
            let with = if care_of != home && crypto::verify(mh, &kbm, &care_of, &attached) {
                DeregAuthenticatedWith::CareOf
            } else if crypto::verify(mh, &kbm, &home, &attached) {
                DeregAuthenticatedWith::Home
            } else {
                return out.push(Action::Dropped(DropReason::BadAuthenticator));
            };
            match with {
                DeregAuthenticatedWith::CareOf => self.stats.dereg_auth_care_of += 1,
                DeregAuthenticatedWith::Home => self.stats.dereg_auth_home += 1,
            }
            out.push(Action::Deregistered { home, attached, with });
            (kbm, if with == DeregAuthenticatedWith::Home { home } else { care_of })
        } else {
            let Some(care_of_token) = care_of_token else { return };
            let kbm = crypto::binding_key(&home_token, Some(&care_of_token));
            if !crypto::verify(mh, &kbm, &care_of, &attached) {
                return out.push(Action::Dropped(DropReason::BadAuthenticator));
            }
            (kbm, care_of)
        };
        let signer = Signer { kbm, care_of: auth_care_of };

        // Sequence number (§9.5.1), against the binding or what is left of a deleted one
        // (§5.2.8), so a replayed BU cannot bring a deleted binding back.
        if let Some(last) = self.cache.last_seq(&key, now) {
            if !seq_is_newer(bu.seq, last) {
                return self.reject(now, ba_status::SEQUENCE_OUT_OF_WINDOW, Some(&signer), last, &ctx, out);
            }
        }

        if dereg {
            // §9.5.3: delete whatever exists; never create. Answer 0 (with A) either way.
            if self.cache.remove(&key, Some(bu.seq), now).is_some() {
                out.push(Action::BindingDeleted { key, reason: DeleteReason::Deregistered });
            }
            if bu.ack {
                self.send_ba(now, ba_status::ACCEPTED, Some(&signer), bu.seq, 0, &ctx, out);
            }
            return;
        }

        // §9.5.2: lifetime no longer than asked, MAX_RR_BINDING_LIFETIME, or our limit.
        let max_units = (self.cfg.max_lifetime.min(MAX_RR_BINDING_LIFETIME).as_secs() / 4) as u16;
        let units = bu.lifetime_units.min(max_units);
        let lifetime = Duration::from_secs(u64::from(units) * 4);
        let existing = self.cache.get(&key).copied();
        let binding = Binding {
            home,
            care_of,
            attached,
            expires: now + lifetime,
            lifetime,
            seq: bu.seq,
            agent: true,
            home_registration: false,
            created: existing.map_or(now, |b| b.created),
            refreshed: existing.map_or(0, |b| b.refreshed.saturating_add(1)),
            nonce_indices: (home_index, care_of_index),
        };
        if units == 0 {
            // Only reachable with a configured max_lifetime under 4 s: nothing to cache.
            if self.cache.remove(&key, Some(bu.seq), now).is_some() {
                out.push(Action::BindingDeleted { key, reason: DeleteReason::Expired });
            }
        } else if self.cache.upsert(binding).is_err() {
            return self.reject(now, ba_status::INSUFFICIENT_RESOURCES, Some(&signer), bu.seq, &ctx, out);
        } else if existing.is_some() {
            out.push(Action::BindingRefreshed(binding));
        } else {
            out.push(Action::BindingCreated(binding));
        }
        // §9.5.4: a success BA only when asked for.
        if bu.ack {
            self.send_ba(now, ba_status::ACCEPTED, Some(&signer), bu.seq, units, &ctx, out);
        }
    }

    /// A BU with H set: a correspondent node is no home agent (§10.3.1 → 131). A binding it
    /// holds is never a home registration, so an existing one means 139 (§9.5.1), after the
    /// sequence check (135). Such a BU carries no Nonce Indices, so no Kbm: the BA has no BAD.
    fn on_home_registration(&mut self, now: Duration, bu: &BindingUpdate, ctx: &BaContext, out: &mut Vec<Action>) {
        if bu.nonce_indices.is_some() {
            return out.push(Action::Dropped(DropReason::NonceIndicesWithHomeRegistration));
        }
        match self.cache.get(&(ctx.home, ctx.src)).map(|b| b.seq) {
            Some(last) if !seq_is_newer(bu.seq, last) => self.reject(now, ba_status::SEQUENCE_OUT_OF_WINDOW, None, last, ctx, out),
            Some(_) => self.reject(now, ba_status::REGISTRATION_TYPE_CHANGE_DISALLOWED, None, bu.seq, ctx, out),
            None => self.reject(now, ba_status::HOME_REGISTRATION_NOT_SUPPORTED, None, bu.seq, ctx, out),
        }
    }

    /// A refusal: logged, and answered whatever the A flag says (§9.5.4 for 130 and
    /// 135–138; §9.5.1 and §10.3.1 say "MUST send back"/"MUST return" for 131 and 139).
    fn reject(&mut self, now: Duration, status: u8, signer: Option<&Signer>, seq: u16, ctx: &BaContext, out: &mut Vec<Action>) {
        out.push(Action::Rejected { status, home: ctx.home, care_of: ctx.care_of });
        self.send_ba(now, status, signer, seq, 0, ctx, out);
    }

    /// §9.5.4: BA from the attached node to the care-of address with a Type 2 Routing Header
    /// carrying the home address (none when the care-of address is the home address),
    /// K = 0, BAD whenever a Kbm exists (every status except 136–138 and home registrations).
    #[allow(clippy::too_many_arguments)]
    fn send_ba(&mut self, now: Duration, status: u8, signer: Option<&Signer>, seq: u16, lifetime_units: u16, ctx: &BaContext, out: &mut Vec<Action>) {
        if !self.allow_reply(ctx.limit_source, now) {
            return out.push(Action::Dropped(DropReason::RateLimited));
        }
        let ba = BindingAck { status, seq, lifetime_units, with_bad: signer.is_some(), ..Default::default() };
        let mut mh = ba.to_bytes();
        if let Some(s) = signer {
            // BA authenticator: same Kbm, same care-of and correspondent as the BU (§5.2.6).
            if crypto::sign(&mut mh, &s.kbm, &s.care_of, &ctx.src).is_err() {
                return out.push(Action::Dropped(DropReason::Malformed));
            }
        }
        let rh2 = (ctx.care_of != ctx.home).then_some(ctx.home);
        self.stats.binding_acks += 1;
        self.send_mobility(ctx.src, ctx.care_of, rh2, mh_type::BINDING_ACK, Some(status), mh, out);
    }

    /// The reply rate limits (`limits`): a bound peer's addresses draw on their own overall
    /// budget, so a flood from spoofed sources leaves a binding's refresh answered.
    fn allow_reply(&mut self, to: Ipv6Addr, now: Duration) -> bool {
        let peer = self.cache.is_peer(&to);
        self.limiter.allow(to, now, peer)
    }

    fn send_binding_error(&mut self, now: Duration, src: Ipv6Addr, dst: Ipv6Addr, status: u8, home: Ipv6Addr, out: &mut Vec<Action>) {
        if !self.allow_reply(dst, now) {
            return out.push(Action::Dropped(DropReason::RateLimited));
        }
        self.stats.binding_errors += 1;
        let be = BindingError { status, home };
        self.send_mobility(src, dst, None, mh_type::BINDING_ERROR, Some(status), be.to_bytes(), out);
    }

    fn send_parameter_problem(&mut self, now: Duration, pkt: &Inbound, field: usize, out: &mut Vec<Action>) {
        if !self.allow_reply(pkt.src, now) {
            return out.push(Action::Dropped(DropReason::RateLimited));
        }
        self.stats.parameter_problems += 1;
        let pointer = u32::try_from(pkt.mh_offset + field).unwrap_or(u32::MAX);
        out.push(Action::Send(Reply::ParameterProblem { src: pkt.dst, dst: pkt.src, pointer }));
    }

    #[allow(clippy::too_many_arguments)]
    fn send_mobility(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        rh2_home: Option<Ipv6Addr>,
        kind: u8,
        status: Option<u8>,
        mut mh: Vec<u8>,
        out: &mut Vec<Action>,
    ) {
        let final_dst = rh2_home.unwrap_or(dst);
        let c = mobility::checksum(&src, &final_dst, &mh);
        mh[4..6].copy_from_slice(&c.to_be_bytes());
        out.push(Action::Send(Reply::Mobility { src, dst, rh2_home, mh_type: kind, status, mh }));
    }

    /// A packet with a Home Address option that failed the fast-path binding check
    /// (§9.3.1): Binding Error status 1 to its source, home address field = the option's.
    pub fn on_unverified_home_address(&mut self, now: Duration, src: Ipv6Addr, dst: Ipv6Addr, home: Ipv6Addr, out: &mut Vec<Action>) {
        self.advance(now);
        if !is_answerable(&src) {
            return out.push(Action::Dropped(DropReason::BadSource));
        }
        self.send_binding_error(now, dst, src, be_status::UNKNOWN_BINDING_FOR_HOME_ADDRESS, home, out);
    }

    /// Timers: nonce/Kcn rotation, binding expiry. Call at least once a second.
    pub fn on_tick(&mut self, now: Duration, rng: &mut dyn Entropy, out: &mut Vec<Action>) {
        self.advance(now);
        if self.nonces.tick(now, rng) {
            self.stats.nonce_rotations += 1;
        }
        let mut gone = Vec::new();
        self.cache.expire(now, &mut gone);
        for b in gone {
            out.push(Action::BindingDeleted { key: b.key(), reason: DeleteReason::Expired });
        }
        if now.saturating_sub(self.last_prune) >= Duration::from_secs(60) {
            self.limiter.prune(now);
            self.last_prune = now;
        }
    }

    /// The attached node is gone or its agent was turned off: purge its bindings.
    pub fn detach(&mut self, attached: Ipv6Addr, out: &mut Vec<Action>) {
        let mut gone = Vec::new();
        self.cache.remove_attached(&attached, self.now, &mut gone);
        for b in gone {
            out.push(Action::BindingDeleted { key: b.key(), reason: DeleteReason::Detached });
        }
    }
}

/// Where a BA goes and what it answers.
struct BaContext {
    /// The attached node: BA source and correspondent address.
    src: Ipv6Addr,
    care_of: Ipv6Addr,
    home: Ipv6Addr,
    /// Rate-limit key: the BU's IPv6 source.
    limit_source: Ipv6Addr,
}

struct Signer {
    kbm: crypto::BindingManagementKey,
    care_of: Ipv6Addr,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::{hex, CARE_OF_NONCE, HOME_NONCE, KCN};
    use crate::entropy::TestEntropy;
    use wire::mobility::{fill_checksum, verify_checksum, BindingRefreshRequest};
    use wire::testpkt;

    fn hoa() -> Ipv6Addr {
        "2001:db8:1::100".parse().unwrap()
    }
    fn coa() -> Ipv6Addr {
        "2001:db8:2::200".parse().unwrap()
    }
    fn mn2() -> Ipv6Addr {
        "2001:db8:3::300".parse().unwrap()
    }
    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }
    const COOKIE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    /// An IPv6 packet as MN1 would send it: header, then a Destination Options header with
    /// a Home Address option (8n+6) when `hao` is given, then the Mobility Header.
    fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, hao: Option<Ipv6Addr>, mh: &[u8]) -> (Vec<u8>, usize) {
        let p = match hao {
            Some(home) => testpkt::with_hao(src, dst, home, mobility::NEXT_HEADER, mh),
            None => testpkt::ip6(src, dst, mobility::NEXT_HEADER, 64, mh),
        };
        let off = p.len() - mh.len();
        (p, off)
    }

    /// MN1, as the end-to-end peer will play it, plus the reflector under test.
    struct World {
        r: Reflector,
        rng: TestEntropy,
        now: Duration,
        home: Ipv6Addr,
        care_of: Ipv6Addr,
        cn: Ipv6Addr,
        home_token: Option<(u16, [u8; 8])>,
        care_of_token: Option<(u16, [u8; 8])>,
    }

    impl World {
        /// Keys of rfc-notes.md: Kcn 00..13 with nonce 11.. at index 1 now, and the same
        /// Kcn with nonce 22.. at index 2 after the first rotation.
        fn new(cfg: Config) -> World {
            let mut rng = TestEntropy::new(99);
            rng.push(&[0, 1]);
            rng.push(&KCN);
            rng.push(&HOME_NONCE);
            rng.push(&KCN);
            rng.push(&CARE_OF_NONCE);
            let r = Reflector::new(cfg, Duration::ZERO, &mut rng);
            World { r, rng, now: Duration::ZERO, home: hoa(), care_of: coa(), cn: mn2(), home_token: None, care_of_token: None }
        }

        fn default() -> World {
            World::new(Config { replies_per_sec_per_source: 1000, reply_burst_per_source: 1000, ..Config::default() })
        }

        /// Moves the fake clock, ticking every second like the control loop.
        fn advance_to(&mut self, t: Duration) -> Vec<Action> {
            let mut out = vec![];
            while self.now < t {
                self.now = (self.now + s(1)).min(t);
                self.r.on_tick(self.now, &mut self.rng, &mut out);
            }
            out
        }

        fn feed(&mut self, src: Ipv6Addr, hao: Option<Ipv6Addr>, mh: &[u8]) -> Vec<Action> {
            let (pkt, off) = ipv6_packet(src, self.cn, hao, mh);
            let mut out = vec![];
            let inb = Inbound { src, dst: self.cn, home_address: hao, ipv6_packet: &pkt, mh_offset: off };
            self.r.on_mobility(self.now, &inb, &mut out);
            out
        }

        fn hoti(&mut self) -> Vec<Action> {
            let mut mh = HomeTestInit { cookie: COOKIE }.to_bytes();
            fill_checksum(&mut mh, &self.home, &self.cn).unwrap();
            let out = self.feed(self.home, None, &mh);
            if let [Action::Send(Reply::Mobility { mh, .. })] = &out[..] {
                let hot = HomeTest::parse(mh).unwrap();
                assert_eq!(hot.cookie, COOKIE);
                self.home_token = Some((hot.nonce_index, hot.token));
            }
            out
        }

        fn coti(&mut self) -> Vec<Action> {
            let mut mh = CareOfTestInit { cookie: COOKIE }.to_bytes();
            fill_checksum(&mut mh, &self.care_of, &self.cn).unwrap();
            let out = self.feed(self.care_of, None, &mh);
            if let [Action::Send(Reply::Mobility { mh, .. })] = &out[..] {
                let cot = CareOfTest::parse(mh).unwrap();
                assert_eq!(cot.cookie, COOKIE);
                self.care_of_token = Some((cot.nonce_index, cot.token));
            }
            out
        }

        fn rr(&mut self) {
            assert_eq!(self.hoti().len(), 1);
            assert_eq!(self.coti().len(), 1);
        }

        fn kbm(&self, dereg: bool) -> crypto::BindingManagementKey {
            let h = self.home_token.unwrap().1;
            if dereg {
                crypto::binding_key(&h, None)
            } else {
                crypto::binding_key(&h, Some(&self.care_of_token.unwrap().1))
            }
        }

        /// A signed BU; `auth_care_of` is the care-of address MN1 puts in the authenticator.
        fn bu_bytes(&self, seq: u16, lifetime_units: u16, ack: bool, auth_care_of: Ipv6Addr) -> Vec<u8> {
            let dereg = lifetime_units == 0 || self.care_of == self.home;
            let bu = BindingUpdate {
                seq,
                ack,
                lifetime_units,
                nonce_indices: Some((self.home_token.unwrap().0, self.care_of_token.map_or(0xdead, |t| t.0))),
                has_bad: true,
                ..Default::default()
            };
            let mut mh = bu.to_bytes();
            crypto::sign(&mut mh, &self.kbm(dereg), &auth_care_of, &self.cn).unwrap();
            fill_checksum(&mut mh, &self.home, &self.cn).unwrap();
            mh
        }

        fn bu(&mut self, seq: u16, lifetime_units: u16, ack: bool) -> Vec<Action> {
            let mh = self.bu_bytes(seq, lifetime_units, ack, self.care_of);
            self.feed(self.care_of, Some(self.home), &mh)
        }
    }

    /// The replies in `out`, each checked: checksum right for its final destination, sent
    /// from the attached node.
    fn sent(out: &[Action]) -> Vec<Reply> {
        out.iter()
            .filter_map(|a| match a {
                Action::Send(r) => Some(r.clone()),
                _ => None,
            })
            .inspect(|r| {
                if let Reply::Mobility { src, dst, rh2_home, mh, .. } = r {
                    assert_eq!(*src, mn2());
                    assert!(verify_checksum(src, &rh2_home.unwrap_or(*dst), mh), "checksum of {r:?}");
                }
            })
            .collect()
    }

    /// The one BA in `out` with its addressing.
    fn the_ba(out: &[Action]) -> (BindingAck, Ipv6Addr, Option<Ipv6Addr>, Vec<u8>) {
        let bas: Vec<_> = sent(out)
            .into_iter()
            .filter_map(|r| match r {
                Reply::Mobility { dst, rh2_home, mh_type: mh_type::BINDING_ACK, mh, status, .. } => {
                    let ba = BindingAck::parse(&mh).unwrap();
                    assert_eq!(status, Some(ba.status));
                    assert!(!ba.key_mgmt, "K is always 0");
                    Some((ba, dst, rh2_home, mh))
                }
                _ => None,
            })
            .collect();
        assert_eq!(bas.len(), 1, "exactly one BA in {out:?}");
        bas.into_iter().next().unwrap()
    }

    fn dropped(out: &[Action]) -> Vec<DropReason> {
        out.iter()
            .filter_map(|a| match a {
                Action::Dropped(d) => Some(*d),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn known_answers_end_to_end() {
        let mut w = World::default();
        let out = w.hoti();
        match &sent(&out)[..] {
            [Reply::Mobility { src, dst, rh2_home: None, mh_type: 3, status: None, mh }] => {
                assert_eq!((*src, *dst), (mn2(), hoa()));
                assert_eq!(mh, &hex("3b020300b90c00010102030405060708c71a754160cffb9a"));
            }
            other => panic!("{other:?}"),
        }
        w.advance_to(s(30));
        let out = w.coti();
        match &sent(&out)[..] {
            [Reply::Mobility { src, dst, rh2_home: None, mh_type: 4, status: None, mh }] => {
                assert_eq!((*src, *dst), (mn2(), coa()));
                assert_eq!(mh, &hex("3b0204007cc500020102030405060708e24f4365fdaeafa7"));
            }
            other => panic!("{other:?}"),
        }
        let bu = w.bu_bytes(0x10, 100, true, coa());
        assert_eq!(bu, hex("3b030500962f001080000064040400010002050c61fbc778180698092476422e"));
        let out = w.feed(coa(), Some(hoa()), &bu);
        let (ba, dst, rh2, mh) = the_ba(&out);
        assert_eq!((dst, rh2), (coa(), Some(hoa())));
        assert_eq!(ba.status, 0);
        assert_eq!(mh, hex("3b030600da4a000000100064010400000000050cbfc85ae5ca114d879e53ad75"));
        let b = *w.r.lookup(&hoa(), &mn2()).unwrap();
        assert_eq!(out.iter().filter(|a| matches!(a, Action::BindingCreated(x) if *x == b)).count(), 1);
        assert_eq!((b.care_of, b.attached, b.seq, b.agent, b.refreshed), (coa(), mn2(), 0x10, true, 0));
        assert_eq!((b.lifetime, b.expires, b.created), (s(400), s(430), s(30)));
    }

    #[test]
    fn success_without_ack_sends_nothing() {
        let mut w = World::default();
        w.rr();
        let out = w.bu(1, 10, false);
        assert!(sent(&out).is_empty());
        assert!(matches!(out[..], [Action::BindingCreated(_)]));
    }

    #[test]
    fn refresh_keeps_created_and_counts() {
        let mut w = World::default();
        w.rr();
        w.bu(1, 10, true);
        w.advance_to(s(5));
        let out = w.bu(2, 20, true);
        let b = match &out[0] {
            Action::BindingRefreshed(b) => *b,
            other => panic!("{other:?}"),
        };
        assert_eq!((b.created, b.refreshed, b.seq, b.expires), (s(0), 1, 2, s(85)));
        assert_eq!(the_ba(&out).0.lifetime_units, 20);
    }

    #[test]
    fn ba_130_when_cache_full_even_without_ack() {
        let mut w = World::new(Config { max_bindings: 1, ..Config::default() });
        w.rr();
        w.bu(1, 10, false);
        // A second mobile node (another home address) with its own RR.
        w.home = "2001:db8:1::101".parse().unwrap();
        w.care_of = "2001:db8:2::201".parse().unwrap();
        w.rr();
        let out = w.bu(1, 10, false);
        let (ba, dst, rh2, mh) = the_ba(&out);
        assert_eq!(ba.status, ba_status::INSUFFICIENT_RESOURCES);
        assert_eq!((dst, rh2), (w.care_of, Some(w.home)));
        assert!(ba.with_bad && crypto::verify(&mh, &w.kbm(false), &w.care_of, &mn2()));
        assert!(out.contains(&Action::Rejected { status: 130, home: w.home, care_of: w.care_of }));
        assert_eq!(w.r.binding_count(), 1);
    }

    fn home_registration(w: &mut World, seq: u16, ack: bool) -> Vec<Action> {
        let bu = BindingUpdate { seq, ack, home_reg: true, lifetime_units: 10, ..Default::default() };
        let mut mh = bu.to_bytes();
        fill_checksum(&mut mh, &w.home, &mn2()).unwrap();
        w.feed(w.care_of, Some(w.home), &mh)
    }

    #[test]
    fn ba_131_for_home_registration() {
        let mut w = World::default();
        let out = home_registration(&mut w, 9, false);
        let (ba, dst, rh2, _) = the_ba(&out);
        assert_eq!((ba.status, ba.seq, ba.with_bad), (131, 9, false));
        assert_eq!((dst, rh2), (coa(), Some(hoa())));
        assert_eq!(w.r.binding_count(), 0);
    }

    #[test]
    fn ba_139_for_home_registration_over_a_binding() {
        let mut w = World::default();
        w.rr();
        w.bu(1, 10, false);
        let out = home_registration(&mut w, 2, true);
        assert_eq!(the_ba(&out).0.status, ba_status::REGISTRATION_TYPE_CHANGE_DISALLOWED);
        assert!(!w.r.lookup(&hoa(), &mn2()).unwrap().home_registration, "flag unchanged");
        // Sequence is checked first (§9.5.1 lists it before the registration type).
        let out = home_registration(&mut w, 1, true);
        let (ba, ..) = the_ba(&out);
        assert_eq!((ba.status, ba.seq), (135, 1));
    }

    #[test]
    fn home_registration_with_nonce_indices_is_dropped() {
        let mut w = World::default();
        w.rr();
        let bu = BindingUpdate { seq: 1, home_reg: true, nonce_indices: Some((1, 1)), has_bad: true, ..Default::default() };
        let mut mh = bu.to_bytes();
        fill_checksum(&mut mh, &hoa(), &mn2()).unwrap();
        let out = w.feed(coa(), Some(hoa()), &mh);
        assert_eq!(out, vec![Action::Dropped(DropReason::NonceIndicesWithHomeRegistration)]);
    }

    #[test]
    fn sequence_window_edges() {
        // RFC 6275 §9.5.1: Δ ∈ [1, 32767] is newer; Δ = 0 and Δ ∈ [32768, 65535] are not.
        for (delta, accepted) in [(1u16, true), (32767, true), (0, false), (32768, false), (32769, false), (65535, false)] {
            let mut w = World::default();
            w.rr();
            let last = 40000u16;
            w.bu(last, 10, false);
            let out = w.bu(last.wrapping_add(delta), 10, false);
            if accepted {
                assert!(matches!(out[..], [Action::BindingRefreshed(_)]), "Δ={delta}: {out:?}");
            } else {
                let (ba, _, _, mh) = the_ba(&out);
                assert_eq!((ba.status, ba.seq), (135, last), "Δ={delta}: carries the last accepted");
                assert!(crypto::verify(&mh, &w.kbm(false), &coa(), &mn2()), "135 carries BAD");
                assert_eq!(w.r.lookup(&hoa(), &mn2()).unwrap().seq, last);
            }
        }
        assert!(seq_is_newer(0, 65535) && seq_is_newer(32767, 0) && !seq_is_newer(32768, 0));
    }

    #[test]
    fn ba_136_137_138_for_expired_nonces() {
        // Tokens from t=0 (index 1 and 1) and from t=210 (index 8).
        let run = |old_home: bool, old_care_of: bool| {
            let mut w = World::default();
            w.rr();
            let (h0, c0) = (w.home_token, w.care_of_token);
            w.advance_to(s(210));
            w.rr();
            w.advance_to(s(250));
            if old_home {
                w.home_token = h0;
            }
            if old_care_of {
                w.care_of_token = c0;
            }
            let out = w.bu(1, 10, false);
            let (ba, dst, rh2, _) = the_ba(&out);
            assert!(!ba.with_bad, "no Kbm, no BAD");
            assert_eq!((ba.seq, dst, rh2), (1, coa(), Some(hoa())));
            assert!(out.contains(&Action::Rejected { status: ba.status, home: hoa(), care_of: coa() }));
            assert_eq!(w.r.binding_count(), 0);
            ba.status
        };
        assert_eq!(run(true, false), ba_status::EXPIRED_HOME_NONCE_INDEX);
        assert_eq!(run(false, true), ba_status::EXPIRED_CARE_OF_NONCE_INDEX);
        assert_eq!(run(true, true), ba_status::EXPIRED_NONCES);
        // Fresh tokens at 250 s work.
        let mut w = World::default();
        w.advance_to(s(250));
        w.rr();
        assert!(matches!(w.bu(1, 10, false)[..], [Action::BindingCreated(_)]));
    }

    #[test]
    fn nonce_valid_239_seconds_not_240() {
        let mut w = World::default();
        w.rr();
        w.advance_to(s(239));
        assert!(matches!(w.bu(1, 10, false)[..], [Action::BindingCreated(_)]));
        let mut w = World::default();
        w.rr();
        w.advance_to(s(240));
        assert_eq!(the_ba(&w.bu(1, 10, false)).0.status, ba_status::EXPIRED_NONCES);
    }

    #[test]
    fn deregistration_deletes_and_replays_do_not_revive() {
        let mut w = World::default();
        w.rr();
        let register = w.bu_bytes(5, 50, true, coa());
        w.feed(coa(), Some(hoa()), &register);
        assert!(w.r.lookup(&hoa(), &mn2()).is_some());
        let dereg = w.bu_bytes(6, 0, true, coa());
        let out = w.feed(coa(), Some(hoa()), &dereg);
        assert!(out.contains(&Action::BindingDeleted { key: (hoa(), mn2()), reason: DeleteReason::Deregistered }));
        assert!(out.contains(&Action::Deregistered { home: hoa(), attached: mn2(), with: DeregAuthenticatedWith::CareOf }));
        let (ba, dst, rh2, mh) = the_ba(&out);
        assert_eq!((ba.status, ba.seq, ba.lifetime_units), (0, 6, 0));
        assert_eq!((dst, rh2), (coa(), Some(hoa())));
        assert!(crypto::verify(&mh, &w.kbm(true), &coa(), &mn2()), "signed with SHA1(home token)");
        assert!(w.r.lookup(&hoa(), &mn2()).is_none());
        assert_eq!(w.r.stats().dereg_auth_care_of, 1);
        // Replays of the registration and of the deregistration.
        w.advance_to(s(10));
        for replay in [&register, &dereg] {
            let out = w.feed(coa(), Some(hoa()), replay);
            let (ba, ..) = the_ba(&out);
            assert_eq!((ba.status, ba.seq), (135, 6));
            assert!(w.r.lookup(&hoa(), &mn2()).is_none(), "not revived");
        }
        // A newer registration is fine.
        assert!(matches!(w.bu(7, 10, false)[..], [Action::BindingCreated(_)]));
    }

    #[test]
    fn deregistration_without_binding_answers_0() {
        let mut w = World::default();
        w.hoti(); // a deregistration needs only the home token
        let out = w.bu(3, 0, true);
        let (ba, ..) = the_ba(&out);
        assert_eq!((ba.status, ba.seq), (0, 3));
        assert!(!out.iter().any(|a| matches!(a, Action::BindingDeleted { .. } | Action::BindingCreated(_))));
        // Without A: nothing sent, nothing created.
        let out = w.bu(4, 0, false);
        assert!(sent(&out).is_empty());
        assert_eq!(w.r.binding_count(), 0);
    }

    #[test]
    fn deregistration_authenticated_with_home_address_and_from_home() {
        let mut w = World::default();
        w.rr();
        w.bu(1, 10, false);
        // From the foreign link, authenticator over the home address (RFC reading).
        let mh = w.bu_bytes(2, 0, true, hoa());
        let out = w.feed(coa(), Some(hoa()), &mh);
        assert!(out.contains(&Action::Deregistered { home: hoa(), attached: mn2(), with: DeregAuthenticatedWith::Home }));
        let (ba, _, _, bam) = the_ba(&out);
        assert_eq!(ba.status, 0);
        assert!(crypto::verify(&bam, &w.kbm(true), &hoa(), &mn2()));
        assert_eq!(w.r.stats().dereg_auth_home, 1);
        // Back home: care-of == home, lifetime non-zero is still a deregistration; the BA goes
        // to the home address without RH2.
        w.care_of = hoa();
        let out = w.bu(3, 10, true);
        let (ba, dst, rh2, _) = the_ba(&out);
        assert_eq!((ba.status, dst, rh2), (0, hoa(), None));
        assert_eq!(w.r.binding_count(), 0);
        // And without a Home Address option, from the home address (§9.5.1, §11.5.5).
        let mh = w.bu_bytes(4, 0, true, hoa());
        let out = w.feed(hoa(), None, &mh);
        let (ba, dst, rh2, _) = the_ba(&out);
        assert_eq!((ba.status, ba.seq, dst, rh2), (0, 4, hoa(), None));
        assert_eq!(w.r.stats().dereg_auth_home, 3);
    }

    #[test]
    fn deregistration_ignores_care_of_nonce_index() {
        let mut w = World::default();
        w.hoti();
        w.care_of_token = None; // the BU carries care-of index 0xdead
        assert_eq!(the_ba(&w.bu(1, 0, true)).0.status, 0);
    }

    #[test]
    fn alternate_care_of_address_is_registered() {
        let mut w = World::default();
        w.rr();
        let bu = BindingUpdate {
            seq: 1,
            ack: true,
            lifetime_units: 10,
            nonce_indices: Some((w.home_token.unwrap().0, w.care_of_token.unwrap().0)),
            alt_care_of: Some(coa()),
            has_bad: true,
            ..Default::default()
        };
        let mut mh = bu.to_bytes();
        crypto::sign(&mut mh, &w.kbm(false), &coa(), &mn2()).unwrap();
        fill_checksum(&mut mh, &hoa(), &mn2()).unwrap();
        let other: Ipv6Addr = "2001:db8:9::9".parse().unwrap();
        let out = w.feed(other, Some(hoa()), &mh);
        let (_, dst, rh2, _) = the_ba(&out);
        assert_eq!((dst, rh2), (coa(), Some(hoa())));
        assert_eq!(w.r.lookup(&hoa(), &mn2()).unwrap().care_of, coa());
    }

    #[test]
    fn lifetime_is_clamped_and_bindings_expire() {
        let mut w = World::default();
        w.rr();
        let out = w.bu(1, 1000, true);
        assert_eq!(the_ba(&out).0.lifetime_units, 105, "420 s");
        assert!(w.advance_to(s(419)).is_empty());
        assert_eq!(w.advance_to(s(420)), vec![Action::BindingDeleted { key: (hoa(), mn2()), reason: DeleteReason::Expired }]);
        assert!(w.r.lookup(&hoa(), &mn2()).is_none());
        // Configured limit below 420 s.
        let mut w = World::new(Config { max_lifetime: s(60), ..Config::default() });
        w.rr();
        assert_eq!(the_ba(&w.bu(1, 1000, true)).0.lifetime_units, 15);
    }

    #[test]
    fn bu_silent_drops() {
        let mut w = World::default();
        w.rr();
        // No Home Address option: the source is taken as the home address (§9.5.1), so the
        // BU reads as a deregistration of the care-of address, which does not verify.
        let mh = w.bu_bytes(1, 10, true, coa());
        let mut no_hao = mh.clone();
        fill_checksum(&mut no_hao, &coa(), &mn2()).unwrap();
        assert_eq!(dropped(&w.feed(coa(), None, &no_hao)), [DropReason::BadAuthenticator]);
        // Bad authenticator.
        let mut bad = mh.clone();
        bad[25] ^= 0x40;
        fill_checksum(&mut bad, &hoa(), &mn2()).unwrap();
        assert_eq!(w.feed(coa(), Some(hoa()), &bad), [Action::Dropped(DropReason::BadAuthenticator)]);
        // Signed for another correspondent.
        let mut other = w.bu_bytes(1, 10, true, coa());
        crypto::sign(&mut other, &w.kbm(false), &coa(), &"2001:db8:3::301".parse().unwrap()).unwrap();
        fill_checksum(&mut other, &hoa(), &mn2()).unwrap();
        assert_eq!(dropped(&w.feed(coa(), Some(hoa()), &other)), [DropReason::BadAuthenticator]);
        // Missing Nonce Indices / BAD.
        for (ni, bad, why) in [(None, true, DropReason::MissingNonceIndices), (Some((1, 1)), false, DropReason::MissingAuthData)] {
            let bu = BindingUpdate { seq: 1, lifetime_units: 10, nonce_indices: ni, has_bad: bad, ..Default::default() };
            let mut m = bu.to_bytes();
            fill_checksum(&mut m, &hoa(), &mn2()).unwrap();
            assert_eq!(dropped(&w.feed(coa(), Some(hoa()), &m)), [why]);
        }
        // Bad checksum (e.g. computed without the home address).
        let mut cs = mh.clone();
        fill_checksum(&mut cs, &coa(), &mn2()).unwrap();
        assert_eq!(w.feed(coa(), Some(hoa()), &cs), [Action::Dropped(DropReason::BadChecksum)]);
        // Link-local home address.
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let mut m = mh.clone();
        fill_checksum(&mut m, &ll, &mn2()).unwrap();
        assert_eq!(dropped(&w.feed(coa(), Some(ll), &m)), [DropReason::BadAddress]);
        assert_eq!(w.r.binding_count(), 0);
        assert_eq!(w.r.stats().binding_acks, 0);
    }

    #[test]
    fn test_inits_with_home_address_and_bad_checksum_are_dropped() {
        let mut w = World::default();
        let mut hoti = HomeTestInit { cookie: COOKIE }.to_bytes();
        fill_checksum(&mut hoti, &hoa(), &mn2()).unwrap();
        assert_eq!(w.feed(coa(), Some(hoa()), &hoti), [Action::Dropped(DropReason::TestInitWithHomeAddress)]);
        let mut coti = CareOfTestInit { cookie: COOKIE }.to_bytes();
        fill_checksum(&mut coti, &hoa(), &mn2()).unwrap();
        assert_eq!(w.feed(coa(), Some(hoa()), &coti), [Action::Dropped(DropReason::TestInitWithHomeAddress)]);
        hoti[9] ^= 1;
        assert_eq!(w.feed(hoa(), None, &hoti), [Action::Dropped(DropReason::BadChecksum)]);
        assert_eq!(w.r.stats().home_tests, 0);
    }

    #[test]
    fn messages_for_mobile_nodes_are_ignored() {
        let mut w = World::default();
        let mut hot = HomeTest { nonce_index: 1, cookie: COOKIE, token: [0; 8] }.to_bytes();
        fill_checksum(&mut hot, &hoa(), &mn2()).unwrap();
        assert_eq!(w.feed(hoa(), None, &hot), [Action::Dropped(DropReason::NotForCorrespondent)]);
        let mut brr = BindingRefreshRequest.to_bytes();
        fill_checksum(&mut brr, &hoa(), &mn2()).unwrap();
        assert_eq!(w.feed(hoa(), None, &brr), [Action::Dropped(DropReason::NotForCorrespondent)]);
    }

    #[test]
    fn binding_error_2_for_unknown_type() {
        let mut w = World::default();
        let mut mh = vec![59, 1, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        fill_checksum(&mut mh, &hoa(), &mn2()).unwrap();
        let out = w.feed(coa(), Some(hoa()), &mh);
        match &sent(&out)[..] {
            [Reply::Mobility { dst, rh2_home: None, mh_type: 7, status: Some(2), mh, .. }] => {
                assert_eq!(*dst, coa(), "directly to the source");
                assert_eq!(BindingError::parse(mh).unwrap(), BindingError { status: 2, home: hoa() });
            }
            other => panic!("{other:?}"),
        }
        // Without a Home Address option the field is unspecified (§9.3.3).
        fill_checksum(&mut mh, &coa(), &mn2()).unwrap();
        let out = w.feed(coa(), None, &mh);
        match &sent(&out)[..] {
            [Reply::Mobility { mh, .. }] => {
                assert_eq!(BindingError::parse(mh).unwrap().home, Ipv6Addr::UNSPECIFIED)
            }
            other => panic!("{other:?}"),
        }
        // Even with a wrong Payload Proto: the type check comes first (§9.2).
        mh[0] = 6;
        fill_checksum(&mut mh, &coa(), &mn2()).unwrap();
        assert_eq!(sent(&w.feed(coa(), None, &mh)).len(), 1);
        assert_eq!(w.r.stats().binding_errors, 3);
    }

    #[test]
    fn binding_error_1_for_unverified_home_address() {
        let mut w = World::default();
        let mut out = vec![];
        w.r.on_unverified_home_address(s(1), coa(), mn2(), hoa(), &mut out);
        match &sent(&out)[..] {
            [Reply::Mobility { src, dst, rh2_home: None, mh_type: 7, status: Some(1), mh }] => {
                assert_eq!((*src, *dst), (mn2(), coa()));
                assert_eq!(BindingError::parse(mh).unwrap(), BindingError { status: 1, home: hoa() });
            }
            other => panic!("{other:?}"),
        }
        let mut out = vec![];
        w.r.on_unverified_home_address(s(1), "ff02::1".parse().unwrap(), mn2(), hoa(), &mut out);
        assert_eq!(out, [Action::Dropped(DropReason::BadSource)]);
    }

    #[test]
    fn parameter_problem_pointers() {
        let mut w = World::default();
        // Payload Proto ≠ 59, in a packet with a Destination Options header (MH at 64).
        let mut mh = CareOfTestInit { cookie: COOKIE }.to_bytes();
        mh[0] = 17;
        fill_checksum(&mut mh, &hoa(), &mn2()).unwrap();
        let out = w.feed(coa(), Some(hoa()), &mh);
        assert_eq!(sent(&out), [Reply::ParameterProblem { src: mn2(), dst: coa(), pointer: 64 }]);
        // Header Len below the minimum: a HoTI of 8 bytes (MH at 40).
        let mut short = HomeTestInit { cookie: COOKIE }.to_bytes()[..8].to_vec();
        short[1] = 0;
        fill_checksum(&mut short, &hoa(), &mn2()).unwrap();
        let out = w.feed(hoa(), None, &short);
        assert_eq!(sent(&out), [Reply::ParameterProblem { src: mn2(), dst: hoa(), pointer: 41 }]);
        // A BU with Header Len 0.
        let mut bu = vec![59, 0, 5, 0, 0, 0, 0, 1];
        fill_checksum(&mut bu, &hoa(), &mn2()).unwrap();
        let out = w.feed(coa(), Some(hoa()), &bu);
        assert_eq!(sent(&out), [Reply::ParameterProblem { src: mn2(), dst: coa(), pointer: 65 }]);
        assert_eq!(w.r.stats().parameter_problems, 3);
    }

    #[test]
    fn truncated_input_is_dropped() {
        let mut w = World::default();
        let mh = HomeTestInit { cookie: COOKIE }.to_bytes();
        assert_eq!(w.feed(hoa(), None, &mh[..12]), [Action::Dropped(DropReason::Truncated)]);
        let mut out = vec![];
        let inb = Inbound { src: hoa(), dst: mn2(), home_address: None, ipv6_packet: &mh, mh_offset: 100 };
        w.r.on_mobility(s(0), &inb, &mut out);
        assert_eq!(out, [Action::Dropped(DropReason::Truncated)]);
    }

    #[test]
    fn replies_are_rate_limited() {
        let mut w = World::new(Config {
            replies_per_sec_per_source: 2,
            reply_burst_per_source: 3,
            replies_per_sec_total: 1,
            reply_burst_total: 5,
            ..Config::default()
        });
        let n_sent = |w: &mut World| {
            let out = w.hoti();
            match &out[..] {
                [Action::Send(_)] => true,
                [Action::Dropped(DropReason::RateLimited)] => false,
                other => panic!("{other:?}"),
            }
        };
        let got: Vec<bool> = (0..5).map(|_| n_sent(&mut w)).collect();
        assert_eq!(got, [true, true, true, false, false], "per-source burst of 3");
        w.advance_to(Duration::from_millis(500));
        assert!(n_sent(&mut w), "2/s: one token back after 500 ms");
        assert!(!n_sent(&mut w));
        // Another source: the overall bucket (5, +0.5 after 500 ms, 4 taken) has one left.
        w.home = "2001:db8:1::101".parse().unwrap();
        assert!(n_sent(&mut w));
        assert!(!n_sent(&mut w), "overall bucket empty");
        // Binding Errors are limited the same way.
        let mut out = vec![];
        w.r.on_unverified_home_address(w.now, coa(), mn2(), hoa(), &mut out);
        assert_eq!(out, [Action::Dropped(DropReason::RateLimited)]);
    }

    #[test]
    fn a_spoofed_flood_empties_the_overall_budget_but_a_bound_peer_refreshes() {
        let mut w = World::new(Config { replies_per_sec_total: 10, reply_burst_total: 20, ..Config::default() });
        w.rr();
        assert_eq!(the_ba(&w.bu(1, 10, true)).0.status, 0);
        let mn1 = w.home;
        // 1000 HoTIs from spoofed home addresses: the burst of 20 less MN1's HoT and CoT
        // (sent before it was bound; its BA came from the peers' budget), then none.
        let answered = (0..1000u16)
            .filter(|&i| {
                w.home = Ipv6Addr::new(0x2001, 0xdb8, 0x66, 0, 0, 0, 0, i);
                matches!(w.hoti()[..], [Action::Send(_)])
            })
            .count();
        assert_eq!(answered, 18);
        // MN1's refresh (RFC 6275 §5.2.7): HoT, CoT and BA still come.
        w.home = mn1;
        assert!(matches!(w.hoti()[..], [Action::Send(_)]), "HoT to the bound home address");
        assert!(matches!(w.coti()[..], [Action::Send(_)]), "CoT to the bound care-of address");
        assert_eq!(the_ba(&w.bu(2, 10, true)).0.status, 0);
        // A source that is not bound still gets nothing.
        w.home = "2001:db8:1::999".parse().unwrap();
        assert!(matches!(w.hoti()[..], [Action::Dropped(DropReason::RateLimited)]));
    }

    #[test]
    fn rate_limited_ba_still_changes_state() {
        let mut w = World::new(Config { replies_per_sec_per_source: 1, reply_burst_per_source: 1, ..Config::default() });
        w.hoti();
        w.coti();
        let out = w.bu(1, 10, true);
        assert!(matches!(out[..], [Action::BindingCreated(_), Action::Dropped(DropReason::RateLimited)]), "{out:?}");
    }

    #[test]
    fn detach_purges_the_attached_nodes_bindings() {
        let mut w = World::default();
        w.rr();
        w.bu(1, 10, false);
        let mut out = vec![];
        w.r.detach("2001:db8:3::999".parse().unwrap(), &mut out);
        assert!(out.is_empty());
        w.r.detach(mn2(), &mut out);
        assert_eq!(out, [Action::BindingDeleted { key: (hoa(), mn2()), reason: DeleteReason::Detached }]);
        assert_eq!(w.r.bindings().count(), 0);
        // A replay right after cannot bring it back either.
        let out = w.bu(1, 10, false);
        assert_eq!(the_ba(&out).0.status, 135);
    }

    #[test]
    fn no_binding_without_a_valid_authenticator() {
        // Any single-byte change of a good BU (checksum re-filled, so only the message
        // changed) must not create a binding.
        let mut w = World::default();
        w.rr();
        let good = w.bu_bytes(1, 10, true, coa());
        for i in (0..good.len()).filter(|i| !(4..6).contains(i)) {
            for flip in [0x01u8, 0x80] {
                let mut m = good.clone();
                m[i] ^= flip;
                let _ = fill_checksum(&mut m, &hoa(), &mn2());
                let out = w.feed(coa(), Some(hoa()), &m);
                assert!(w.r.binding_count() == 0, "byte {i} ^ {flip:#x}: {out:?}");
            }
        }
        assert!(matches!(w.feed(coa(), Some(hoa()), &good)[..], [Action::BindingCreated(_), _]));
    }

    #[test]
    fn drop_reason_names_are_unique() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|d| d.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
        assert_eq!(DropReason::BadChecksum.to_string(), "bad_checksum");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn random_mobility_headers_never_panic(
            mut data in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
            kind in 0u8..9,
            fix in proptest::bool::ANY,
            hao in proptest::bool::ANY,
        ) {
            let mut w = World::default();
            w.rr();
            // Half the cases get a plausible type, Payload Proto, length and a valid
            // checksum, so they reach the per-type code.
            if fix && data.len() >= 8 {
                let n = data.len() / 8 * 8;
                data.truncate(n);
                data[0] = 59;
                data[1] = (n / 8 - 1) as u8;
                data[2] = kind;
                fill_checksum(&mut data, &if hao { hoa() } else { coa() }, &mn2()).unwrap();
            }
            let out = w.feed(coa(), hao.then(hoa), &data);
            for r in sent(&out) {
                if let Reply::Mobility { mh, .. } = r {
                    proptest::prop_assert!(Header::new_checked(&mh[..]).is_ok());
                }
            }
        }
    }
}
