//! The MAG state machine on a fake clock, with the test playing the LMA.

use core::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use wire::ethernet::MacAddr;
use wire::pmip::{access_technology, handoff, status, timestamp_from_unix, PmipOptions, ProxyBindingAck, ProxyBindingUpdate};

use crate::action::{Action, DetachReason, DropReason, FailReason, PbuKind};
use crate::config::Config;
use crate::mag::{Mag, MnState};
use crate::policy::{Policy, PolicyError, Prefix};

const LMA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc0, 0, 0, 0, 0, 2);
const OTHER_LMA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc0, 0, 0, 0, 0, 3);
/// 2023-11-14T22:13:20Z at now = 0.
const WALL: Duration = Duration::from_secs(1_700_000_000);

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn mac(i: u32) -> MacAddr {
    let b = i.to_be_bytes();
    [0x02, 0x00, b[0], b[1], b[2], b[3]]
}
fn nai(i: u32) -> Arc<[u8]> {
    format!("mn{i}@example.net").into_bytes().into()
}
fn policy(i: u32) -> Policy {
    Policy { mac: mac(i), mn_id: nai(i), lma: LMA, agent: true, static_hnp: None }
}
fn hnp(i: u32) -> Prefix {
    let b = i.to_be_bytes();
    let a = Ipv6Addr::new(0x2001, 0xdb8, u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]]), 0, 0, 0, 0);
    (a, 64)
}

fn quiet() -> Config {
    Config { idle_timeout: s(3600), ..Config::default() }
}

/// The MAG under test and its clock.
struct World {
    mag: Mag,
    now: Duration,
}

impl World {
    fn new(cfg: Config) -> World {
        let mut w = World { mag: Mag::new(cfg, WALL), now: Duration::ZERO };
        w.mag.set_policy(w.now, policy(1), &mut vec![]).unwrap();
        w
    }
    /// Default settings but for the idle time: MNs that stay silent for the whole test
    /// keep their binding (the NUD tests use the real default).
    fn default() -> World {
        World::new(quiet())
    }
    fn frame(&mut self, i: u32) -> Vec<Action> {
        let mut out = vec![];
        self.mag.on_frame_from(self.now, &mac(i), &mut out);
        out
    }
    fn rs(&mut self, i: u32) -> Vec<Action> {
        let mut out = vec![];
        self.mag.on_router_solicitation(self.now, &mac(i), &mut out);
        out
    }
    fn pba(&mut self, from: Ipv6Addr, pba: &ProxyBindingAck) -> Vec<Action> {
        let mut out = vec![];
        self.mag.on_pba(self.now, from, pba, &mut out);
        out
    }
    /// Moves the clock to `t`, ticking at every deadline on the way, as the control loop
    /// does with `next_deadline`. Returns what came out, with the time of each action.
    fn run_to(&mut self, t: Duration) -> Vec<(Duration, Action)> {
        let mut all = vec![];
        loop {
            let at = match self.mag.next_deadline() {
                Some(d) if d <= t => d.max(self.now),
                _ => break,
            };
            self.now = at;
            let mut out = vec![];
            self.mag.on_tick(self.now, &mut out);
            all.extend(out.into_iter().map(|a| (at, a)));
        }
        self.now = self.now.max(t);
        let mut out = vec![];
        self.mag.on_tick(self.now, &mut out);
        all.extend(out.into_iter().map(|a| (self.now, a)));
        all
    }
    fn state(&self, i: u32) -> Option<MnState> {
        self.mag.state(&mac(i))
    }
    /// MN `i` attaches and the LMA accepts with `hnp(i)` for `units` × 4 s.
    fn register(&mut self, i: u32, units: u16) -> ProxyBindingUpdate {
        let pbu = the_pbu(&self.frame(i), PbuKind::Initial);
        let out = self.pba(LMA, &accept(&pbu, hnp(i), units));
        assert!(installs(&out) == 1, "{out:?}");
        pbu
    }
}

fn pbus(out: &[Action]) -> Vec<(ProxyBindingUpdate, PbuKind)> {
    out.iter()
        .filter_map(|a| match a {
            Action::SendPbu { pbu, kind, lma } => {
                assert_eq!(*lma, LMA);
                Some((pbu.clone(), *kind))
            }
            _ => None,
        })
        .collect()
}
fn timed_pbus(out: &[(Duration, Action)]) -> Vec<(Duration, ProxyBindingUpdate, PbuKind)> {
    out.iter()
        .filter_map(|(t, a)| match a {
            Action::SendPbu { pbu, kind, .. } => Some((*t, pbu.clone(), *kind)),
            _ => None,
        })
        .collect()
}
fn the_pbu(out: &[Action], kind: PbuKind) -> ProxyBindingUpdate {
    let p = pbus(out);
    assert_eq!(p.len(), 1, "{out:?}");
    assert_eq!(p[0].1, kind);
    p[0].0.clone()
}
fn installs(out: &[Action]) -> usize {
    out.iter().filter(|a| matches!(a, Action::Install { .. })).count()
}
fn withdraws<'a>(out: impl IntoIterator<Item = &'a Action>) -> usize {
    out.into_iter().filter(|a| matches!(a, Action::Withdraw { .. })).count()
}
fn advertised(out: &[Action]) -> Vec<(Vec<Prefix>, u32, u32)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Advertise { prefixes, valid, preferred, .. } => Some((prefixes.clone(), *valid, *preferred)),
            _ => None,
        })
        .collect()
}
fn dropped(out: &[Action]) -> Vec<DropReason> {
    out.iter()
        .filter_map(|a| match a {
            Action::Dropped(r) => Some(*r),
            _ => None,
        })
        .collect()
}
fn failed(out: &[Action]) -> Vec<FailReason> {
    out.iter()
        .filter_map(|a| match a {
            Action::Failed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}
fn only(out: &[(Duration, Action)]) -> Vec<Action> {
    out.iter().map(|(_, a)| a.clone()).collect()
}

/// The LMA's answer to `pbu`: same sequence, MN-ID and timestamp (RFC 5213 §5.5).
fn answer(pbu: &ProxyBindingUpdate, status: u8) -> ProxyBindingAck {
    ProxyBindingAck {
        status,
        proxy_reg: true,
        seq: pbu.seq,
        lifetime_units: 0,
        options: PmipOptions {
            mn_id: pbu.options.mn_id.clone(),
            timestamp: pbu.options.timestamp,
            handoff_indicator: pbu.options.handoff_indicator,
            access_technology: pbu.options.access_technology,
            mn_link_layer_id: pbu.options.mn_link_layer_id.clone(),
            ..PmipOptions::default()
        },
        ..ProxyBindingAck::default()
    }
}
fn accept(pbu: &ProxyBindingUpdate, prefix: Prefix, units: u16) -> ProxyBindingAck {
    let mut a = answer(pbu, status::ACCEPTED);
    a.lifetime_units = units;
    a.options.home_network_prefixes = vec![prefix];
    a
}

#[test]
fn initial_pbu_has_the_rfc_5213_contents() {
    let mut w = World::default();
    w.now = ms(2500);
    let pbu = the_pbu(&w.frame(1), PbuKind::Initial);
    // §8.1 / §6.9.1.1: A, H, P; L with the Link-local Address option.
    assert!(pbu.ack && pbu.home_reg && pbu.proxy_reg && pbu.link_local_compat);
    assert_eq!(pbu.lifetime_units, 150); // 600 s
    let o = &pbu.options;
    assert_eq!(o.mn_id.as_deref(), Some(&nai(1)[..]));
    assert_eq!(o.home_network_prefixes, vec![(Ipv6Addr::UNSPECIFIED, 0)]);
    assert_eq!(o.handoff_indicator, Some(handoff::NEW_ATTACHMENT));
    assert_eq!(o.access_technology, Some(access_technology::IEEE_802_3));
    assert_eq!(o.mn_link_layer_id.as_deref(), Some(&mac(1)[..]));
    assert_eq!(o.link_local_address, Some("fe80::1".parse().unwrap()));
    assert_eq!(o.timestamp, Some(timestamp_from_unix(WALL + ms(2500))));
    assert_eq!(w.state(1), Some(MnState::Registering));
    assert_eq!(w.mag.stats().pbu_sent(PbuKind::Initial), 1);
    // Frames while registering send nothing more.
    assert!(pbus(&w.frame(1)).is_empty());
}

#[test]
fn static_prefix_is_asked_for_and_its_length_accepted() {
    let mut w = World::default();
    let lab = ("2001:db8:77::".parse().unwrap(), 56);
    let mut p = policy(2);
    p.static_hnp = Some(lab);
    w.mag.set_policy(w.now, p, &mut vec![]).unwrap();
    let pbu = the_pbu(&w.frame(2), PbuKind::Initial);
    assert_eq!(pbu.options.home_network_prefixes, vec![lab]);
    // Another prefix than the static one is refused, the static one (a /56) accepted.
    let other = accept(&pbu, ("2001:db8:78::".parse().unwrap(), 56), 10);
    assert_eq!(dropped(&w.pba(LMA, &other)), vec![DropReason::PrefixMismatch]);
    let out = w.pba(LMA, &accept(&pbu, lab, 10));
    assert_eq!(installs(&out), 1);
}

#[test]
fn unknown_mac_is_dropped_and_never_registered() {
    let mut w = World::default();
    let out = w.frame(99);
    assert_eq!(out, vec![Action::Dropped(DropReason::UnknownMac)]);
    assert_eq!(dropped(&w.rs(99)), vec![DropReason::UnknownMac]);
    assert_eq!(w.state(99), None);
    assert!(w.run_to(s(300)).is_empty());
    assert_eq!(w.mag.stats().dropped(DropReason::UnknownMac), 2);
}

#[test]
fn status_0_installs_then_advertises_and_never_before() {
    let mut w = World::default();
    let pbu = the_pbu(&w.rs(1), PbuKind::Initial);
    // No RA, no route before the PBA.
    assert!(advertised(&w.rs(1)).is_empty());
    w.now = s(1) / 2;
    let out = w.pba(LMA, &accept(&pbu, hnp(1), 25)); // 100 s
    match &out[0] {
        Action::Install { mac: m, mn_id, hnps, lma, lifetime, agent } => {
            assert_eq!((*m, &mn_id[..], &hnps[..], *lma), (mac(1), &nai(1)[..], &[hnp(1)][..], LMA));
            assert_eq!((*lifetime, *agent), (s(100), true));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(out[1], Action::Registered { .. }));
    // The RA right after acceptance: lifetimes within what is left (sent at 0, now 0.5 s).
    assert_eq!(advertised(&out), vec![(vec![hnp(1)], 99, 99)]);
    assert_eq!(w.state(1), Some(MnState::Registered));
    w.now = s(40);
    assert_eq!(advertised(&w.rs(1)), vec![(vec![hnp(1)], 60, 60)]);
    assert_eq!(w.mag.stats().mobile_nodes(MnState::Registered), 1);
    assert_eq!(w.mag.stats().pba_received(0), 1);
}

/// Every rejection: no Install, a failure with the status, counted per status, and the MN
/// stays offline (no RA, no new PBU) until the holdoff has passed.
#[test]
fn statuses_128_and_above_keep_the_mn_offline() {
    let rejections = [128, 129, 130, 131, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 200, 255];
    for st in rejections {
        let mut w = World::default();
        let pbu = the_pbu(&w.frame(1), PbuKind::Initial);
        let mut pba = answer(&pbu, st);
        if st == status::TIMESTAMP_MISMATCH {
            // The LMA's own clock (RFC 5213 §5.5): still matched by sequence and MN-ID.
            pba.options.timestamp = Some(timestamp_from_unix(WALL + s(3600)));
        }
        let out = w.pba(LMA, &pba);
        assert_eq!(installs(&out), 0, "{st}");
        assert_eq!(failed(&out), vec![FailReason::Rejected(st)], "{st}");
        assert_eq!(w.state(1), Some(MnState::Rejected), "{st}");
        assert_eq!(w.mag.stats().pba_received(st), 1);
        assert_eq!(w.mag.stats().failures(FailReason::Rejected(st)), 1);
        // Offline: nothing is retransmitted, frames and RSs within the holdoff do nothing.
        assert!(timed_pbus(&w.run_to(s(59))).is_empty(), "{st}");
        assert!(w.rs(1).is_empty(), "{st}");
        // After it, the next frame tries again as a new attachment.
        w.now = s(60);
        let again = the_pbu(&w.frame(1), PbuKind::Initial);
        assert_eq!(again.options.handoff_indicator, Some(handoff::NEW_ATTACHMENT));
    }
}

#[test]
fn rejected_refresh_withdraws() {
    let mut w = World::default();
    w.register(1, 25);
    let out = w.run_to(s(80));
    let (_, refresh, _) = timed_pbus(&out)[0].clone();
    let out = w.pba(LMA, &answer(&refresh, status::NOT_LMA_FOR_THIS_MOBILE_NODE));
    assert_eq!(out[0], Action::Withdraw { mac: mac(1), hnps: vec![hnp(1)] });
    assert_eq!(failed(&out), vec![FailReason::Rejected(153)]);
    assert_eq!(w.state(1), Some(MnState::Rejected));
}

#[test]
fn status_135_adopts_the_lmas_sequence_and_sends_again() {
    let mut w = World::default();
    let pbu = the_pbu(&w.frame(1), PbuKind::Initial);
    let mut pba = answer(&pbu, status::SEQUENCE_NUMBER_OUT_OF_WINDOW);
    pba.seq = pbu.seq.wrapping_add(1000);
    let out = w.pba(LMA, &pba);
    let again = the_pbu(&out, PbuKind::Retransmit);
    assert_eq!(again.seq, pbu.seq.wrapping_add(1001));
    assert_eq!(installs(&w.pba(LMA, &accept(&again, hnp(1), 10))), 1);
}

/// A status below 128 but 0 is no acceptance PMIPv6 knows: nothing installed, the PBU is
/// retransmitted as if it had not come.
#[test]
fn unknown_success_status_installs_nothing() {
    for st in [1, 2, 100, 127] {
        let mut w = World::default();
        let pbu = the_pbu(&w.frame(1), PbuKind::Initial);
        let mut pba = accept(&pbu, hnp(1), 10);
        pba.status = st;
        let out = w.pba(LMA, &pba);
        assert_eq!(out, vec![Action::Dropped(DropReason::UnknownStatus)], "{st}");
        assert_eq!(w.state(1), Some(MnState::Registering));
        let retry = w.run_to(s(1));
        assert_eq!(timed_pbus(&retry).len(), 1);
    }
}

#[test]
fn retransmissions_1_2_4_8_16_32_32_with_increasing_sequence_then_give_up() {
    let mut w = World::default();
    let first = the_pbu(&w.frame(1), PbuKind::Initial);
    let out = w.run_to(s(130));
    let sent = timed_pbus(&out);
    // 7 retransmissions: 8 transmissions in all (the default).
    let times: Vec<u64> = sent.iter().map(|(t, _, _)| t.as_secs()).collect();
    assert_eq!(times, vec![1, 3, 7, 15, 31, 63, 95]);
    let mut last = (first.seq, first.options.timestamp.unwrap());
    for (t, pbu, kind) in &sent {
        assert_eq!(*kind, PbuKind::Retransmit);
        assert_eq!(pbu.seq, last.0.wrapping_add(1), "a greater sequence number each time");
        let ts = pbu.options.timestamp.unwrap();
        assert!(ts > last.1);
        assert_eq!(ts, timestamp_from_unix(WALL + *t), "a fresh timestamp");
        assert_eq!(pbu.options.handoff_indicator, Some(handoff::NEW_ATTACHMENT));
        last = (pbu.seq, ts);
    }
    // Given up 32 s after the last one.
    let gave_up: Vec<_> = out.iter().filter(|(_, a)| matches!(a, Action::Failed { reason: FailReason::NoResponse, .. })).map(|(t, _)| t.as_secs()).collect();
    assert_eq!(gave_up, vec![127]);
    assert_eq!(w.state(1), Some(MnState::Unanswered));
    assert_eq!(w.mag.stats().pbu_sent(PbuKind::Retransmit), 7);
    assert_eq!(w.mag.stats().failures(FailReason::NoResponse), 1);
    // The next frame after the holdoff (32 s) starts again; one within it does not.
    w.now = s(150);
    assert!(pbus(&w.frame(1)).is_empty());
    w.now = s(159);
    let again = the_pbu(&w.frame(1), PbuKind::Initial);
    assert!(again.seq != last.0 && again.seq == last.0.wrapping_add(1));
}

#[test]
fn gives_up_after_the_configured_number_of_tries() {
    let mut w = World::new(Config { max_transmissions: 3, ..quiet() });
    w.frame(1);
    let out = w.run_to(s(100));
    let times: Vec<u64> = timed_pbus(&out).iter().map(|(t, _, _)| t.as_secs()).collect();
    assert_eq!(times, vec![1, 3]);
    let fail: Vec<_> = out.iter().filter(|(_, a)| matches!(a, Action::Failed { .. })).collect();
    assert_eq!(fail.len(), 1);
    assert_eq!(fail[0].0, s(7));
}

/// A PBA for the first transmission after a retransmission replaced it.
#[test]
fn stale_pba_with_an_old_sequence_is_dropped() {
    let mut w = World::default();
    let first = the_pbu(&w.frame(1), PbuKind::Initial);
    let out = w.run_to(s(1));
    let (_, second, _) = timed_pbus(&out)[0].clone();
    let out = w.pba(LMA, &accept(&first, hnp(1), 10));
    assert_eq!(out, vec![Action::Dropped(DropReason::StaleSequence)]);
    assert_eq!(w.state(1), Some(MnState::Registering));
    // A sequence number never sent.
    let mut future = accept(&second, hnp(1), 10);
    future.seq = second.seq.wrapping_add(5);
    assert_eq!(dropped(&w.pba(LMA, &future)), vec![DropReason::SequenceMismatch]);
    assert_eq!(installs(&w.pba(LMA, &accept(&second, hnp(1), 10))), 1);
}

#[test]
fn unmatched_pbas_are_dropped() {
    let mut w = World::default();
    w.mag.set_policy(w.now, policy(2), &mut vec![]).unwrap();
    let pbu = the_pbu(&w.frame(1), PbuKind::Initial);
    let good = accept(&pbu, hnp(1), 10);

    let mut wrong_id = good.clone();
    wrong_id.options.mn_id = Some(b"nobody@example.net".to_vec());
    let mut no_id = good.clone();
    no_id.options.mn_id = None;
    let mut other_mn = good.clone(); // MN 2 has a policy but nothing outstanding
    other_mn.options.mn_id = Some(nai(2).to_vec());
    let mut wrong_ts = good.clone();
    wrong_ts.options.timestamp = Some(pbu.options.timestamp.unwrap() + 1);
    let mut no_ts = good.clone();
    no_ts.options.timestamp = None;
    let mut not_proxy = good.clone();
    not_proxy.proxy_reg = false;

    let cases = [
        (LMA, wrong_id, DropReason::UnknownMnId),
        (LMA, no_id, DropReason::MissingMnId),
        (LMA, other_mn, DropReason::NoOutstandingPbu),
        (LMA, wrong_ts, DropReason::TimestampMismatch),
        (LMA, no_ts, DropReason::TimestampMismatch),
        (LMA, not_proxy, DropReason::NotProxy),
        (OTHER_LMA, good.clone(), DropReason::NotFromLma),
    ];
    for (from, pba, reason) in cases {
        let before = w.mag.stats().dropped(reason);
        assert_eq!(w.pba(from, &pba), vec![Action::Dropped(reason)], "{reason}");
        assert_eq!(w.state(1), Some(MnState::Registering));
        assert_eq!(w.mag.stats().dropped(reason), before + 1);
    }
    let mut out = vec![];
    w.mag.on_malformed_pba(w.now, &mut out);
    assert_eq!(out, vec![Action::Dropped(DropReason::Malformed)]);
    // The right one still registers; the same PBA again matches nothing outstanding.
    assert_eq!(installs(&w.pba(LMA, &good)), 1);
    assert_eq!(w.pba(LMA, &good), vec![Action::Dropped(DropReason::NoOutstandingPbu)]);
    assert_eq!(w.state(1), Some(MnState::Registered));
}

/// Absurd status-0 PBAs, against an initial registration (nothing installed) and against a
/// refresh (the registration kept, no Withdraw), each with its own reason.
#[test]
fn absurd_pbas_are_dropped_and_keep_the_registration() {
    type Spoil = fn(&mut ProxyBindingAck);
    let bad: [(Spoil, DropReason); 9] = [
        (|p| p.lifetime_units = 0, DropReason::ZeroLifetime),
        (|p| p.options.home_network_prefixes.clear(), DropReason::MissingPrefix),
        (|p| p.options.home_network_prefixes = vec![("fe80::".parse().unwrap(), 64)], DropReason::BadPrefix),
        (|p| p.options.home_network_prefixes = vec![("ff02::".parse().unwrap(), 64)], DropReason::BadPrefix),
        (|p| p.options.home_network_prefixes = vec![(Ipv6Addr::UNSPECIFIED, 64)], DropReason::BadPrefix),
        (|p| p.options.home_network_prefixes = vec![("2001:db8:0:1::1".parse().unwrap(), 64)], DropReason::BadPrefix),
        (|p| p.options.home_network_prefixes = vec![("2001:db8::".parse().unwrap(), 48)], DropReason::BadPrefixLength),
        (
            |p| {
                let h = p.options.home_network_prefixes[0];
                p.options.home_network_prefixes.push(h)
            },
            DropReason::DuplicatePrefix,
        ),
        (
            |p| {
                let other = if p.options.home_network_prefixes == [hnp(7)] { hnp(8) } else { hnp(7) };
                p.options.home_network_prefixes = vec![other]
            },
            DropReason::PrefixMismatch,
        ),
    ];
    for (spoil, reason) in bad {
        let mut w = World::default();
        // Initial registration (the LMA assigns, so any sane prefix goes; not hnp(7) then).
        let pbu = the_pbu(&w.frame(1), PbuKind::Initial);
        let mut pba = accept(&pbu, hnp(1), 25);
        spoil(&mut pba);
        let out = w.pba(LMA, &pba);
        if reason == DropReason::PrefixMismatch {
            // Nothing was asked for: another prefix is a fine first grant.
            assert_eq!(installs(&out), 1);
        } else {
            assert_eq!(out, vec![Action::Dropped(reason)], "initial {reason}");
            assert_eq!(installs(&w.pba(LMA, &accept(&pbu, hnp(1), 25))), 1);
        }
        // Refresh: the bad answer is dropped, the binding stays, the good one extends it.
        let out = w.run_to(s(80));
        let (_, refresh, kind) = timed_pbus(&out)[0].clone();
        assert_eq!(kind, PbuKind::Refresh);
        let assigned = w.mag.mobile(&mac(1)).unwrap().hnps.to_vec();
        let mut pba = accept(&refresh, assigned[0], 25);
        spoil(&mut pba);
        let out = w.pba(LMA, &pba);
        assert_eq!(out, vec![Action::Dropped(reason)], "refresh {reason}");
        assert_eq!(w.state(1), Some(MnState::Registered));
        let out = w.pba(LMA, &accept(&refresh, assigned[0], 25));
        assert!(out.iter().any(|a| matches!(a, Action::Refreshed { .. })), "{reason}");
        assert_eq!(withdraws(&out), 0);
    }
}

/// Granted 100 s: the refresh goes at 80 s (lead = max(20 %, 10 s)), HI 5, the assigned
/// prefix, and the binding never lapses over five refreshes (no Withdraw between).
#[test]
fn refresh_before_expiry_without_a_gap() {
    let mut w = World::default();
    w.register(1, 25);
    let mut expected = 80;
    for _ in 0..5 {
        let out = w.run_to(s(expected));
        assert_eq!(withdraws(out.iter().map(|(_, a)| a)), 0);
        let sent = timed_pbus(&out);
        assert_eq!(sent.len(), 1, "{out:?}");
        let (t, pbu, kind) = sent[0].clone();
        assert_eq!((t, kind), (s(expected), PbuKind::Refresh));
        assert_eq!(pbu.options.handoff_indicator, Some(handoff::REREGISTRATION));
        assert_eq!(pbu.options.home_network_prefixes, vec![hnp(1)]);
        assert_eq!(pbu.lifetime_units, 150);
        w.now = s(expected) + ms(300);
        let out = w.pba(LMA, &accept(&pbu, hnp(1), 25));
        assert_eq!(out[0], Action::Refreshed { mac: mac(1), lifetime: s(100) });
        // The RA moves the MN's lifetimes on (counted from the refresh's transmission).
        assert_eq!(advertised(&out), vec![(vec![hnp(1)], 99, 99)]);
        assert_eq!(w.state(1), Some(MnState::Registered));
        expected += 80;
    }
    assert_eq!(w.mag.stats().refreshes, 5);
    assert_eq!(w.mag.stats().pbu_sent(PbuKind::Refresh), 5);
}

#[test]
fn unanswered_refresh_is_retransmitted_then_the_binding_expires() {
    let mut w = World::default();
    w.register(1, 5); // 20 s: refresh at 10 s
    let out = w.run_to(s(30));
    let sent = timed_pbus(&out);
    let times: Vec<(u64, PbuKind)> = sent.iter().map(|(t, _, k)| (t.as_secs(), *k)).collect();
    assert_eq!(times, vec![(10, PbuKind::Refresh), (11, PbuKind::Retransmit), (13, PbuKind::Retransmit), (17, PbuKind::Retransmit)]);
    for pair in sent.windows(2) {
        assert_eq!(pair[1].1.seq, pair[0].1.seq.wrapping_add(1));
    }
    // Expired at 20 s: withdrawn, failure counted; no more PBUs.
    let w_at: Vec<_> = out.iter().filter(|(_, a)| matches!(a, Action::Withdraw { .. })).map(|(t, _)| *t).collect();
    assert_eq!(w_at, vec![s(20)]);
    assert_eq!(failed(&only(&out)), vec![FailReason::Expired]);
    assert_eq!(w.state(1), Some(MnState::Unanswered));
}

#[test]
fn detach_deregisters_and_withdraws_at_once() {
    let mut w = World::default();
    w.register(1, 25);
    w.now = s(5);
    let mut out = vec![];
    assert!(w.mag.detach(w.now, &mac(1), &mut out));
    assert_eq!(out[0], Action::Withdraw { mac: mac(1), hnps: vec![hnp(1)] });
    assert_eq!(out[1], Action::Deregistered { mac: mac(1), reason: DetachReason::Operator });
    let dereg = the_pbu(&out, PbuKind::Deregistration);
    assert_eq!(dereg.lifetime_units, 0);
    assert_eq!(dereg.options.handoff_indicator, Some(handoff::REREGISTRATION));
    assert_eq!(dereg.options.home_network_prefixes, vec![hnp(1)]);
    assert!(dereg.ack && dereg.proxy_reg);
    assert_eq!(w.state(1), Some(MnState::Deregistering));
    assert!(advertised(&w.rs(1)).is_empty());
    // Retransmitted like any PBU until answered.
    let out = w.run_to(s(6));
    let (_, again, kind) = timed_pbus(&out)[0].clone();
    assert_eq!(kind, PbuKind::Retransmit);
    assert!(w.pba(LMA, &answer(&again, 0)).is_empty());
    assert_eq!(w.state(1), Some(MnState::Idle));
    assert!(w.run_to(s(500)).is_empty(), "nothing left to time");
    // It can attach again.
    assert_eq!(pbus(&w.frame(1)).len(), 1);
}

#[test]
fn unanswered_deregistration_is_forgotten_after_its_tries() {
    let mut w = World::default();
    w.register(1, 25);
    w.mag.detach(w.now, &mac(1), &mut vec![]);
    let out = w.run_to(s(100));
    assert_eq!(timed_pbus(&out).len(), 2); // 3 transmissions in all
    assert_eq!(w.state(1), Some(MnState::Idle));
    assert_eq!(w.mag.stats().deregistrations_unanswered, 1);
}

#[test]
fn policy_removed_deregisters_then_forgets_the_mn() {
    let mut w = World::default();
    w.register(1, 25);
    let mut out = vec![];
    assert!(w.mag.remove_policy(w.now, &mac(1), &mut out));
    assert_eq!(withdraws(&out), 1);
    assert!(out.contains(&Action::Deregistered { mac: mac(1), reason: DetachReason::PolicyRemoved }));
    let dereg = the_pbu(&out, PbuKind::Deregistration);
    // Its frames are unknown now, and do not register it.
    assert_eq!(dropped(&w.frame(1)), vec![DropReason::UnknownMac]);
    assert!(w.pba(LMA, &answer(&dereg, 0)).is_empty());
    assert_eq!(w.state(1), None);
    assert_eq!(w.mag.len(), 0);
    assert_eq!(w.mag.stats().mobile_nodes(MnState::Idle), 0);
    // An idle MN's policy goes at once.
    w.mag.set_policy(w.now, policy(3), &mut vec![]).unwrap();
    let mut out = vec![];
    assert!(w.mag.remove_policy(w.now, &mac(3), &mut out));
    assert!(out.is_empty());
    assert_eq!(w.mag.len(), 0);
}

#[test]
fn policy_change_of_lma_deregisters_from_the_old_one() {
    let mut w = World::default();
    w.register(1, 25);
    let mut out = vec![];
    w.mag.set_policy(w.now, Policy { lma: OTHER_LMA, ..policy(1) }, &mut out).unwrap();
    assert!(out.contains(&Action::Deregistered { mac: mac(1), reason: DetachReason::PolicyChanged }));
    let dereg = the_pbu(&out, PbuKind::Deregistration);
    assert!(w.pba(LMA, &answer(&dereg, 0)).is_empty());
    let mut out = vec![];
    w.mag.on_frame_from(w.now, &mac(1), &mut out);
    assert!(matches!(&out[0], Action::SendPbu { lma, .. } if *lma == OTHER_LMA));
    // Two MACs cannot share an MN-ID.
    let clash = Policy { mac: mac(5), ..policy(1) };
    assert_eq!(w.mag.set_policy(w.now, clash, &mut vec![]), Err(PolicyError::DuplicateMnId));
    let bad = Policy { lma: "fe80::2".parse().unwrap(), ..policy(6) };
    assert_eq!(w.mag.set_policy(w.now, bad, &mut vec![]), Err(PolicyError::BadLma));
}

/// Silent for 30 s: probes at 30, 31, 32 s, then deregistered at 33 s (within 40 s).
#[test]
fn idle_mn_failing_nud_is_deregistered() {
    let mut w = World::new(Config::default());
    w.register(1, 150);
    let out = w.run_to(s(60));
    let probes: Vec<u64> = out.iter().filter(|(_, a)| matches!(a, Action::ProbeNeighbor { .. })).map(|(t, _)| t.as_secs()).collect();
    assert_eq!(probes, vec![30, 31, 32]);
    let detach: Vec<_> =
        out.iter().filter(|(_, a)| matches!(a, Action::Deregistered { reason: DetachReason::Unreachable, .. })).map(|(t, _)| t.as_secs()).collect();
    assert_eq!(detach, vec![33]);
    assert!(detach[0] <= 40);
    let dereg: Vec<_> = timed_pbus(&out).into_iter().filter(|(_, _, k)| *k == PbuKind::Deregistration).collect();
    assert_eq!(dereg.len(), 1);
    assert_eq!(dereg[0].0, s(33));
}

#[test]
fn answered_probe_or_a_frame_keeps_the_mn() {
    let mut w = World::new(Config::default());
    w.register(1, 150);
    let out = w.run_to(s(31));
    assert_eq!(out.iter().filter(|(_, a)| matches!(a, Action::ProbeNeighbor { .. })).count(), 2);
    let mut out = vec![];
    w.mag.on_neighbor_reachable(w.now, &mac(1), &mut out);
    assert!(out.is_empty());
    // Next idle period starts at the answer (31 s): probes from 61 s, no detach before.
    let out = w.run_to(s(60));
    assert!(out.iter().all(|(_, a)| !matches!(a, Action::ProbeNeighbor { .. } | Action::Deregistered { .. })));
    let out = w.run_to(s(62));
    assert_eq!(out.iter().filter(|(_, a)| matches!(a, Action::ProbeNeighbor { .. })).count(), 2);
    // Any frame from it also proves it is on the link.
    w.frame(1);
    let out = w.run_to(s(90));
    assert!(out.iter().all(|(_, a)| !matches!(a, Action::Deregistered { .. })), "{out:?}");
    assert_eq!(w.state(1), Some(MnState::Registered));
}

#[test]
fn periodic_unsolicited_ras_stay_within_the_lifetime() {
    let mut w = World::new(Config { ra_interval: s(20), ..quiet() });
    w.register(1, 15); // 60 s, refresh at 48 s
    w.frame(1);
    let out = w.run_to(s(45));
    let ras: Vec<_> = out
        .iter()
        .filter_map(|(t, a)| match a {
            Action::Advertise { valid, preferred, .. } => Some((t.as_secs(), *valid, *preferred)),
            _ => None,
        })
        .collect();
    assert_eq!(ras, vec![(20, 40, 40), (40, 20, 20)]);
}

#[test]
fn gauges_follow_the_states() {
    let mut w = World::default();
    for i in 2..=4 {
        w.mag.set_policy(w.now, policy(i), &mut vec![]).unwrap();
    }
    w.register(1, 25);
    w.frame(2);
    let st = w.mag.stats();
    assert_eq!(st.mobile_nodes(MnState::Registered), 1);
    assert_eq!(st.mobile_nodes(MnState::Registering), 1);
    assert_eq!(st.mobile_nodes(MnState::Idle), 2);
    let total: u64 = MnState::ALL.iter().map(|s| st.mobile_nodes(*s)).sum();
    assert_eq!(total as usize, w.mag.len());
}

/// 100,000 policy MNs attach at once, the LMA answers every PBU: all installed. No timing.
#[test]
fn hundred_thousand_mns_attach_at_once() {
    const N: u32 = 100_000;
    let mut mag = Mag::new(Config::default(), WALL);
    mag.reserve(N as usize);
    let mut out = vec![];
    for i in 0..N {
        mag.set_policy(Duration::ZERO, policy(i), &mut out).unwrap();
    }
    assert!(out.is_empty());
    for i in 0..N {
        mag.on_frame_from(Duration::ZERO, &mac(i), &mut out);
    }
    let sent = pbus(&out);
    assert_eq!(sent.len(), N as usize);
    let mut answers = vec![];
    for (i, (pbu, _)) in sent.iter().enumerate() {
        let mut a = vec![];
        mag.on_pba(ms(200), LMA, &accept(pbu, hnp(i as u32), 150), &mut a);
        answers.extend(a);
    }
    assert_eq!(installs(&answers), N as usize);
    assert_eq!(mag.stats().mobile_nodes(MnState::Registered), u64::from(N));
    assert!(dropped(&answers).is_empty());
    // One live timer entry per MN plus the stale ones the registrations left.
    assert!(mag.timer_entries() <= 2 * N as usize + 1024);
    memory_report(&mag, N as usize);
}

/// Bytes per MN: the map slots (at the load hashbrown has after growth), the shared MN-ID,
/// the HNP's heap block and the timer entries. Printed (`--nocapture`) for RESULTS.md;
/// bounded so a change that balloons it fails.
fn memory_report(mag: &Mag, n: usize) {
    let m = mag.approx_memory();
    let per = m.total() as f64 / n as f64;
    println!("mag: ~{per:.0} bytes per registered MN for {n} MNs ({m})");
    assert!(per < 700.0, "{per}");
}

#[test]
fn drop_reason_names_are_unique() {
    let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), DropReason::ALL.len());
    for (i, r) in DropReason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
    }
    assert_eq!(FailReason::Rejected(153).to_string(), "rejected: status 153 (NOT_LMA_FOR_THIS_MOBILE_NODE)");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
    /// Random PBAs (random status, sequence, lifetime, prefixes, timestamps off by a random
    /// non-zero amount) never panic and never take a registered MN down.
    #[test]
    fn random_pbas_never_lose_a_registration(
        st in 0u8..=255,
        seq_off in 0u16..=65535,
        ts_off in 1u64..1_000_000,
        units in 0u16..=65535,
        prefixes in proptest::collection::vec((proptest::num::u128::ANY, 0u8..=255), 0..4),
        refresh in proptest::bool::ANY,
    ) {
        let mut w = World::default();
        w.register(1, 25);
        let mut pbu = None;
        if refresh {
            pbu = timed_pbus(&w.run_to(s(80))).first().map(|(_, p, _)| p.clone());
        }
        let pbu = pbu.unwrap_or_default();
        let mut pba = accept(&pbu, hnp(1), units);
        pba.status = st;
        pba.seq = pbu.seq.wrapping_add(seq_off);
        pba.options.mn_id = Some(nai(1).to_vec());
        pba.options.timestamp = pbu.options.timestamp.map(|t| t.wrapping_add(ts_off));
        pba.options.home_network_prefixes =
            prefixes.into_iter().map(|(a, l)| (Ipv6Addr::from(a), l)).collect();
        let out = w.pba(LMA, &pba);
        // 156/157 are matched without the timestamp, so they are real rejections when the
        // sequence matches; anything else must leave the binding alone.
        let real_rejection = matches!(st, 156 | 157) && seq_off == 0 && refresh;
        if !real_rejection {
            proptest::prop_assert_eq!(withdraws(&out), 0);
            proptest::prop_assert_eq!(w.state(1), Some(MnState::Registered));
        }
    }
}
