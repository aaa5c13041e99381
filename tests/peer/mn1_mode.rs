//! `lma-peer --mn1 HOME,CARE_OF --cn MN2`: besides being the LMA's tunnel end, the peer plays
//! the Mobile IPv6 node MN1 of the draft's Figure 3 through the tunnel, with `e2e::mn1::Mn1`:
//! return routability (HoTI from the home address, as if through the home agent; CoTI from the
//! care-of address; both retransmitted every second until answered, RFC 6275 §11.6.1), a
//! signed Binding Update, and the Binding Acknowledgement. Then it answers the route-optimized
//! echo requests MN2 sends it (to the care-of address, Type 2 Routing Header carrying the home
//! address) with echo replies carrying a Home Address option.
//!
//! Every message is printed on stdout as one line of a ladder diagram when it is sent or
//! received. Output errors are ignored: a closed stdout must not stop the peer.

use e2e::mn1::Mn1;
use std::fmt;
use std::io::{self, Write};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};
use wire::mobility::{mh_type, BindingError};
use wire::{ext, icmpv6, ipv6};

/// Time for neighbor discovery between the LMA and the MAG before the first HoTI/CoTI.
const ND_WAIT: Duration = Duration::from_millis(500);
/// RFC 6275 §11.6.1 / §11.8: retransmit HoTI, CoTI and the BU after 1 s without an answer.
const RETRANSMIT: Duration = Duration::from_secs(1);
/// Give up on return routability (and, separately, on the BA) after this long.
const GIVE_UP: Duration = Duration::from_secs(20);
/// Binding lifetime asked for, in units of 4 s (RFC 6275 §6.1.7).
const LIFETIME_UNITS: u16 = 100;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the start cue (SIGUSR1) or the ND wait.
    Idle,
    ReturnRoutability,
    Binding,
    Bound,
}

pub struct Mn1Mode {
    mn1: Mn1,
    state: State,
    /// When the next (re)transmission of HoTI/CoTI or the BU is due.
    next_send: Option<Instant>,
    deadline: Instant,
    /// HoTI/CoTI rounds sent.
    rr_rounds: u32,
    bu_seq: u16,
    pub echo_replies: u64,
}

/// One ladder line: who on MN1's side, the arrow, who on MN2's side and a note.
fn line(mn1_side: &str, arrow: Arrow, rest: fmt::Arguments) {
    let arrow = match arrow {
        Arrow::Out(label) => format!("--{label}{}>", "-".repeat(19usize.saturating_sub(label.len()))),
        Arrow::In(label) => format!("<--{label}{}", "-".repeat(19usize.saturating_sub(label.len()))),
    };
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "  {mn1_side:<30} {arrow}  {rest}");
    let _ = out.flush();
}

enum Arrow<'a> {
    Out(&'a str),
    In(&'a str),
}

impl Mn1Mode {
    /// `start_at`: when return routability begins; `None` waits for `start`.
    pub fn new(home: Ipv6Addr, care_of: Ipv6Addr, cn: Ipv6Addr, start_at: Option<Instant>) -> Mn1Mode {
        Mn1Mode {
            mn1: Mn1::new(home, care_of, cn),
            state: State::Idle,
            next_send: start_at,
            deadline: start_at.unwrap_or_else(Instant::now) + GIVE_UP,
            rr_rounds: 0,
            bu_seq: 0,
            echo_replies: 0,
        }
    }

    /// The start cue: return routability with `cn` (if given, else the correspondent given at
    /// creation) begins after the ND wait. Ignored once started.
    pub fn start(&mut self, now: Instant, cn: Option<Ipv6Addr>) {
        if self.state == State::Idle {
            if let Some(cn) = cn {
                self.mn1.cn = cn;
            }
            self.next_send = Some(now + ND_WAIT);
            self.deadline = now + ND_WAIT + GIVE_UP;
        }
    }

    /// Whether a packet from the tunnel with this (IPv6 header) destination is MN1's.
    pub fn owns(&self, dst: Ipv6Addr) -> bool {
        dst == self.mn1.home || dst == self.mn1.care_of
    }

    /// Timers: sends what is due through `send`; `Err` when MN2 (roagent) never answered.
    pub fn tick(&mut self, now: Instant, send: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        let Some(due) = self.next_send else { return Ok(()) };
        let (home, care_of, cn) = (self.mn1.home, self.mn1.care_of, self.mn1.cn);
        if self.state == State::Idle && now >= due {
            self.state = State::ReturnRoutability;
            self.deadline = now + GIVE_UP;
        }
        match self.state {
            State::Idle | State::Bound => return Ok(()),
            State::ReturnRoutability if now >= self.deadline => {
                let missing = match (self.mn1.home_token, self.mn1.care_of_token) {
                    (None, None) => "neither a HoT nor a CoT",
                    (None, Some(_)) => "no HoT",
                    _ => "no CoT",
                };
                return Err(format!(
                    "MN1 gives up: {missing} from MN2 {cn} within {} s of sending HoTI/CoTI every second \
                     (is roagent running, with agent = true for MN2, and the tunnel up?)",
                    GIVE_UP.as_secs()
                ));
            }
            State::Binding if now >= self.deadline => {
                return Err(format!("MN1 gives up: no Binding Acknowledgement from MN2 {cn} within {} s (BU sent {} times)", GIVE_UP.as_secs(), self.bu_seq));
            }
            _ if now < due => return Ok(()),
            State::ReturnRoutability => {
                self.rr_rounds += 1;
                let again = if self.rr_rounds > 1 { "  (again: no answer yet)" } else { "" };
                if self.mn1.home_token.is_none() {
                    send(&self.mn1.hoti());
                    line(&format!("MN1 (home {home})"), Arrow::Out("HoTI"), format_args!("MN2 {cn}   [via home agent, LMA tunnel]{again}"));
                }
                if self.mn1.care_of_token.is_none() {
                    send(&self.mn1.coti());
                    line(&format!("MN1 (care-of {care_of})"), Arrow::Out("CoTI"), format_args!("MN2 {cn}   [LMA tunnel]{again}"));
                }
            }
            State::Binding => {
                // A retransmitted BU takes a new sequence number (RFC 6275 §11.8).
                self.bu_seq += 1;
                send(&self.mn1.bu(self.bu_seq, LIFETIME_UNITS, true));
                let again = if self.bu_seq > 1 { "  (again: no BA yet)" } else { "" };
                line(
                    "MN1 (care-of, HAO home)",
                    Arrow::Out("BU"),
                    format_args!("MN2   seq {}, lifetime {} s, ack requested, signed with Kbm{again}", self.bu_seq, u32::from(LIFETIME_UNITS) * 4),
                );
            }
        }
        self.next_send = Some(now + RETRANSMIT);
        Ok(())
    }

    /// A packet from the tunnel for MN1's home or care-of address. `Err` when MN2 refused
    /// the binding.
    pub fn handle(&mut self, ip: &[u8], now: Instant, send: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        let (Ok(h), Ok(chain)) = (ipv6::Header::new_checked(ip), ext::walk(ip)) else {
            line("MN1", Arrow::In("?"), format_args!("a malformed packet ({} bytes), dropped", ip.len()));
            return Ok(());
        };
        let upper = &ip[chain.upper_offset.min(h.total_len())..h.total_len()];
        let rh2_home = chain.routing.filter(|r| r.routing_type == 2).and_then(|r| r.home_address);
        match (chain.upper_proto, upper.get(2).copied(), upper.first().copied()) {
            (ipv6::proto::MOBILITY, Some(mh_type::HOME_TEST), _) => {
                if self.state != State::ReturnRoutability || self.mn1.home_token.is_some() {
                    line("MN1 (home)", Arrow::In("HoT"), format_args!("MN2   a late duplicate, ignored"));
                    return Ok(());
                }
                match self.mn1.take_hot(ip) {
                    Ok(()) => {
                        line("MN1 (home)", Arrow::In("HoT"), format_args!("MN2 (answered by roagent)  home nonce index {}", self.mn1.home_token.unwrap().0))
                    }
                    Err(e) => line("MN1 (home)", Arrow::In("HoT"), format_args!("MN2   rejected: {e}")),
                }
            }
            (ipv6::proto::MOBILITY, Some(mh_type::CARE_OF_TEST), _) => {
                if self.state != State::ReturnRoutability || self.mn1.care_of_token.is_some() {
                    line("MN1 (care-of)", Arrow::In("CoT"), format_args!("MN2   a late duplicate, ignored"));
                    return Ok(());
                }
                match self.mn1.take_cot(ip) {
                    Ok(()) => line(
                        "MN1 (care-of)",
                        Arrow::In("CoT"),
                        format_args!("MN2 (answered by roagent)  care-of nonce index {}", self.mn1.care_of_token.unwrap().0),
                    ),
                    Err(e) => line("MN1 (care-of)", Arrow::In("CoT"), format_args!("MN2   rejected: {e}")),
                }
            }
            (ipv6::proto::MOBILITY, Some(mh_type::BINDING_ACK), _) => {
                if self.state != State::Binding {
                    line("MN1 (care-of, RH2 home)", Arrow::In("BA"), format_args!("MN2   a late duplicate, ignored"));
                    return Ok(());
                }
                match self.mn1.take_ba(ip) {
                    Ok(ba) if ba.seq != self.bu_seq => {
                        line("MN1 (care-of, RH2 home)", Arrow::In("BA"), format_args!("MN2   seq {} answers an older BU, ignored", ba.seq));
                    }
                    Ok(ba) => {
                        let verdict = if ba.status == 0 { "accepted" } else { "REFUSED" };
                        let auth = if ba.with_bad { ", authenticator verified" } else { "" };
                        line(
                            "MN1 (care-of, RH2 home)",
                            Arrow::In("BA"),
                            format_args!(
                                "MN2 (answered by roagent)  status {} ({verdict}), seq {}, lifetime {} s{auth}",
                                ba.status,
                                ba.seq,
                                u32::from(ba.lifetime_units) * 4
                            ),
                        );
                        if ba.status >= 128 {
                            return Err(format!("MN1: MN2 refused the binding: BA status {}", ba.status));
                        }
                        self.state = State::Bound;
                        self.next_send = None;
                    }
                    Err(e) => line("MN1 (care-of, RH2 home)", Arrow::In("BA"), format_args!("MN2   rejected: {e}")),
                }
            }
            (ipv6::proto::MOBILITY, Some(mh_type::BINDING_ERROR), _) => match BindingError::parse(upper) {
                Ok(be) => line("MN1", Arrow::In("BE"), format_args!("MN2   Binding Error status {} for home {}", be.status, be.home)),
                Err(e) => line("MN1", Arrow::In("BE"), format_args!("MN2   malformed Binding Error: {e}")),
            },
            (ipv6::proto::ICMPV6, _, Some(icmpv6::ECHO_REQUEST)) if h.dst_addr() == self.mn1.care_of && rh2_home == Some(self.mn1.home) && upper.len() >= 8 => {
                let (id, seq) = (u16::from_be_bytes([upper[4], upper[5]]), u16::from_be_bytes([upper[6], upper[7]]));
                line(
                    &format!("MN1 (care-of {})", self.mn1.care_of),
                    Arrow::In("echo request"),
                    format_args!("MN2 {}   [RH2 home {}]  seq {seq}", h.src_addr(), self.mn1.home),
                );
                send(&self.mn1.echo_reply_with_hao(id, seq, &upper[8..]));
                self.echo_replies += 1;
                line("MN1 (care-of, HAO home)", Arrow::Out("echo reply"), format_args!("MN2   seq {seq}"));
            }
            // RFC 6275 §11.3.5: Parameter Problem code 1 (unrecognized Next Header) answering
            // a Mobility Header means the correspondent does not do route optimization — the
            // draft's Figure 1, a plain IPv6 node without the agent.
            (ipv6::proto::ICMPV6, _, Some(icmpv6::PARAM_PROBLEM)) if upper.get(1) == Some(&1) && self.state == State::ReturnRoutability => {
                line(
                    "MN1",
                    Arrow::In("Param. Problem"),
                    format_args!("MN2 {}   unrecognized Next Header (the Mobility Header), to {}", h.src_addr(), h.dst_addr()),
                );
                return Err(format!(
                    "MN1 gives up: MN2 {} answered with ICMPv6 Parameter Problem (unrecognized Next Header), \
                     so nothing answers Mobile IPv6 for it (the draft's Figure 1): is agent = true for MN2 in roagent's config?",
                    h.src_addr()
                ));
            }
            (proto, mh, first) => {
                let what = match proto {
                    ipv6::proto::MOBILITY => format!("Mobility Header type {}", mh.unwrap_or(255)),
                    ipv6::proto::ICMPV6 => format!("ICMPv6 type {} code {}", first.unwrap_or(0), upper.get(1).copied().unwrap_or(0)),
                    p => format!("next header {p}"),
                };
                let how = if rh2_home.is_some() { "route-optimized" } else { "not route-optimized" };
                line("MN1", Arrow::In("?"), format_args!("MN2   {what} from {} to {} ({how}), not handled by MN1", h.src_addr(), h.dst_addr()));
            }
        }
        if self.state == State::ReturnRoutability && self.mn1.home_token.is_some() && self.mn1.care_of_token.is_some() {
            self.state = State::Binding;
            self.next_send = Some(now);
            self.deadline = now + GIVE_UP;
        }
        Ok(())
    }
}
