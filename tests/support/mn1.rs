//! MN1: a Mobile IPv6 mobile node (RFC 6275 §11) as far as the tests need one. It starts
//! return routability with an attached node, sends the signed Binding Update, checks the
//! Binding Acknowledgement, and sends route-optimized traffic with a Home Address option;
//! live, through a [`TunnelEnd`] at the LMA, it also waits for the answers.
//! Built from the product's own `wire` and `reflector::crypto`, as a real peer would compute.

use crate::packets::ip6;
use crate::tunnel_end::TunnelEnd;
use reflector::crypto;
use std::net::Ipv6Addr;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};
use wire::mobility::{self, BindingAck, BindingUpdate, CareOfTest, CareOfTestInit, HomeTest, HomeTestInit};
use wire::{checksum, ext, icmpv6, ipv6, testpkt};

/// Mobility Header `mh` from `src` to `cn`, with a Home Address option if `home` is given;
/// checksum filled (pseudo-header source = home address, RFC 6275 §6.3). What MN1 sends, and
/// what a flood forges (`flood.rs`).
pub fn mh_packet(src: Ipv6Addr, cn: Ipv6Addr, home: Option<Ipv6Addr>, mut mh: Vec<u8>) -> Vec<u8> {
    mobility::fill_checksum(&mut mh, &home.unwrap_or(src), &cn).unwrap();
    match home {
        None => ip6(src, cn, ipv6::proto::MOBILITY, 64, &mh),
        Some(h) => testpkt::with_hao(src, cn, h, ipv6::proto::MOBILITY, &mh),
    }
}

/// RFC 6275 §11.8, §12: a mobile node retransmits HoTI, CoTI and Binding Update first after
/// INITIAL_BINDACK_TIMEOUT (1 s), doubling the wait each time up to MAX_BINDACK_TIMEOUT (32 s).
const INITIAL_BINDACK_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_BINDACK_TIMEOUT: Duration = Duration::from_secs(32);

/// The ends of the waits between retransmissions (RFC 6275 §11.8): each wait starts when
/// the next one is asked for and lasts INITIAL_BINDACK_TIMEOUT, then twice as long each time
/// up to MAX_BINDACK_TIMEOUT; none ends past `deadline`, and none starts at or after it.
fn retransmission_waits(deadline: Instant) -> impl Iterator<Item = Instant> {
    let mut timeout = INITIAL_BINDACK_TIMEOUT;
    std::iter::from_fn(move || {
        let now = Instant::now();
        (now < deadline).then(|| {
            let until = (now + timeout).min(deadline);
            timeout = (timeout * 2).min(MAX_BINDACK_TIMEOUT);
            until
        })
    })
}

pub struct Mn1 {
    pub home: Ipv6Addr,
    pub care_of: Ipv6Addr,
    /// The correspondent: the attached node behind the MAG.
    pub cn: Ipv6Addr,
    pub cookie: [u8; 8],
    pub home_token: Option<(u16, [u8; 8])>,
    pub care_of_token: Option<(u16, [u8; 8])>,
}

impl Mn1 {
    pub fn new(home: Ipv6Addr, care_of: Ipv6Addr, cn: Ipv6Addr) -> Mn1 {
        Mn1 { home, care_of, cn, cookie: *b"roagent!", home_token: None, care_of_token: None }
    }

    fn mh_packet(&self, src: Ipv6Addr, home: Option<Ipv6Addr>, mh: Vec<u8>) -> Vec<u8> {
        mh_packet(src, self.cn, home, mh)
    }

    /// Home Test Init: from the home address (it travels through the home agent).
    pub fn hoti(&self) -> Vec<u8> {
        self.mh_packet(self.home, None, HomeTestInit { cookie: self.cookie }.to_bytes())
    }

    /// Care-of Test Init: from the care-of address.
    pub fn coti(&self) -> Vec<u8> {
        self.mh_packet(self.care_of, None, CareOfTestInit { cookie: self.cookie }.to_bytes())
    }

    /// The Mobility Header of an IPv6 packet, after checking it is from the correspondent to
    /// `to` and that its checksum holds for the final destination.
    fn mh_of<'a>(&self, ip: &'a [u8], to: &Ipv6Addr) -> Result<(&'a [u8], ext::Chain), String> {
        let h = ipv6::Header::new_checked(ip).map_err(|e| e.to_string())?;
        let chain = ext::walk(ip).map_err(|e| e.to_string())?;
        if chain.upper_proto != ipv6::proto::MOBILITY {
            return Err(format!("not a Mobility Header (next header {})", chain.upper_proto));
        }
        let final_dst = chain.routing.and_then(|r| r.home_address).unwrap_or(h.dst_addr());
        if h.src_addr() != self.cn || final_dst != *to {
            return Err(format!("from {} to {final_dst}, expected {} to {to}", h.src_addr(), self.cn));
        }
        let mh = &ip[chain.upper_offset..h.total_len()];
        if !mobility::verify_checksum(&self.cn, &final_dst, mh) {
            return Err("Mobility Header checksum does not verify".into());
        }
        Ok((mh, chain))
    }

    /// Takes the keygen token from a Home Test (§11.6.2).
    pub fn take_hot(&mut self, ip: &[u8]) -> Result<(), String> {
        let (mh, _) = self.mh_of(ip, &self.home)?;
        let hot = HomeTest::parse(mh).map_err(|e| e.to_string())?;
        if hot.cookie != self.cookie {
            return Err("HoT cookie does not match".into());
        }
        self.home_token = Some((hot.nonce_index, hot.token));
        Ok(())
    }

    /// Takes the keygen token from a Care-of Test.
    pub fn take_cot(&mut self, ip: &[u8]) -> Result<(), String> {
        let (mh, _) = self.mh_of(ip, &self.care_of)?;
        let cot = CareOfTest::parse(mh).map_err(|e| e.to_string())?;
        if cot.cookie != self.cookie {
            return Err("CoT cookie does not match".into());
        }
        self.care_of_token = Some((cot.nonce_index, cot.token));
        Ok(())
    }

    fn kbm(&self, dereg: bool) -> crypto::BindingManagementKey {
        let h = self.home_token.expect("HoT first").1;
        if dereg {
            crypto::binding_key(&h, None)
        } else {
            crypto::binding_key(&h, Some(&self.care_of_token.expect("CoT first").1))
        }
    }

    /// A Binding Update from the care-of address with the home address option, signed with
    /// Kbm (§5.2.6); `lifetime_units` 0 deregisters.
    pub fn bu(&self, seq: u16, lifetime_units: u16, ack: bool) -> Vec<u8> {
        let dereg = lifetime_units == 0;
        let bu = BindingUpdate {
            seq,
            ack,
            lifetime_units,
            nonce_indices: Some((self.home_token.expect("HoT first").0, self.care_of_token.map_or(0, |t| t.0))),
            has_bad: true,
            ..Default::default()
        };
        let mut mh = bu.to_bytes();
        crypto::sign(&mut mh, &self.kbm(dereg), &self.care_of, &self.cn).unwrap();
        self.mh_packet(self.care_of, Some(self.home), mh)
    }

    /// Parses a Binding Acknowledgement: to the care-of address with a Type 2 Routing Header
    /// carrying the home address (§9.5.4), authenticator checked when present.
    pub fn take_ba(&self, ip: &[u8]) -> Result<BindingAck, String> {
        self.take_ba_of(ip, false)
    }

    /// As [`Mn1::take_ba`], for the answer to a Binding Update with lifetime 0 when `dereg`:
    /// its authenticator is computed with the deregistration Kbm (home keygen token only, §5.2.5).
    pub fn take_ba_of(&self, ip: &[u8], dereg: bool) -> Result<BindingAck, String> {
        let h = ipv6::Header::new_checked(ip).map_err(|e| e.to_string())?;
        if h.dst_addr() != self.care_of {
            return Err(format!("BA to {}, not to the care-of address", h.dst_addr()));
        }
        let (mh, chain) = self.mh_of(ip, &self.home)?;
        if chain.routing.map(|r| r.routing_type) != Some(2) {
            return Err("BA without a Type 2 Routing Header".into());
        }
        let ba = BindingAck::parse(mh).map_err(|e| e.to_string())?;
        if ba.with_bad && !crypto::verify(mh, &self.kbm(dereg), &self.care_of, &self.cn) {
            return Err("BA authenticator does not verify".into());
        }
        Ok(ba)
    }

    /// A UDP datagram sent route-optimized: from the care-of address with a Home Address
    /// option; the checksum uses the home address (RFC 6275 §6.3).
    pub fn udp_with_hao(&self, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let len = 8 + data.len();
        let mut u = Vec::with_capacity(len);
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&(len as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(data);
        let c = checksum::upper_layer(&self.home, &self.cn, ipv6::proto::UDP, &u);
        u[6..8].copy_from_slice(&c.to_be_bytes());
        self.with_hao(ipv6::proto::UDP, &u)
    }

    /// An ICMPv6 echo reply sent route-optimized (as MN1 answers a ping to its home address).
    pub fn echo_reply_with_hao(&self, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = vec![129, 0, 0, 0];
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(payload);
        let c = checksum::upper_layer(&self.home, &self.cn, ipv6::proto::ICMPV6, &m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        self.with_hao(ipv6::proto::ICMPV6, &m)
    }

    fn with_hao(&self, next: u8, upper: &[u8]) -> Vec<u8> {
        testpkt::with_hao(self.care_of, self.cn, self.home, next, upper)
    }
}

/// MN1 live, at the LMA: its packets go down the tunnel `tun` to the MAG at `mag`, and the
/// attached node's answers come up it.
impl Mn1 {
    /// Return routability as [`Mn1::return_routability_until`] does it, with 20 s to finish;
    /// how many HoTI and CoTI it sent. Panics if it does not finish.
    pub fn return_routability(&mut self, tun: &TunnelEnd, mag: &Ipv6Addr) -> (u64, u64) {
        self.return_routability_until(tun, mag, Instant::now() + Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends the signed Binding Update `seq` (lifetime 400 s, acknowledgement requested) and
    /// returns the Binding Acknowledgement; panics if none comes within 5 s of a packet.
    pub fn bind(&self, tun: &TunnelEnd, mag: &Ipv6Addr, seq: u16) -> BindingAck {
        tun.send(&self.bu(seq, 100, true), mag).unwrap();
        loop {
            let (_, ip) = tun.recv(Duration::from_secs(5)).expect("a Binding Acknowledgement");
            if let Ok(ba) = self.take_ba(&ip) {
                return ba;
            }
        }
    }

    /// A new return routability run as a mobile node retransmits it (RFC 6275 §11.8): the
    /// tokens held are forgotten, then HoTI and CoTI are sent, and whichever test has not come
    /// back is sent again after 1 s, 2 s, 4 s … until `deadline`. How many of each it sent,
    /// or, at the deadline, which tests were still missing.
    pub fn return_routability_until(&mut self, tun: &TunnelEnd, mag: &Ipv6Addr, deadline: Instant) -> Result<(u64, u64), String> {
        self.home_token = None;
        self.care_of_token = None;
        let mut sent = (0, 0);
        for until in retransmission_waits(deadline) {
            if self.home_token.is_none() {
                tun.send(&self.hoti(), mag).unwrap();
                sent.0 += 1;
            }
            if self.care_of_token.is_none() {
                tun.send(&self.coti(), mag).unwrap();
                sent.1 += 1;
            }
            while (self.home_token.is_none() || self.care_of_token.is_none()) && Instant::now() < until {
                if let Some((from, ip)) = tun.recv(until.saturating_duration_since(Instant::now())) {
                    assert_eq!(from, *mag, "tunnel packets come from the MAG's Proxy-CoA");
                    let _ = self.take_hot(&ip).or_else(|_| self.take_cot(&ip));
                }
            }
            if self.home_token.is_some() && self.care_of_token.is_some() {
                return Ok(sent);
            }
        }
        let missing = [(self.home_token.is_none(), "HoT"), (self.care_of_token.is_none(), "CoT")];
        let missing: Vec<&str> = missing.iter().filter(|m| m.0).map(|m| m.1).collect();
        Err(format!("no {} from {} after {} HoTI and {} CoTI", missing.join(" and no "), self.cn, sent.0, sent.1))
    }

    /// Sends the signed Binding Update `first_seq` (lifetime 400 s, acknowledgement requested)
    /// and retransmits it after 1 s, 2 s, 4 s … until a Binding Acknowledgement for one of
    /// them comes back or `deadline` passes (RFC 6275 §11.8). Each retransmission carries the
    /// next sequence number: the agent binds a Binding Update whose acknowledgement its rate
    /// limit withheld, so the same number again would be refused (135, §9.5.1). The
    /// acknowledgement and how many Binding Updates were sent.
    pub fn bind_until(&self, tun: &TunnelEnd, mag: &Ipv6Addr, first_seq: u16, deadline: Instant) -> Result<(BindingAck, u16), String> {
        let mut sent = 0u16;
        for until in retransmission_waits(deadline) {
            tun.send(&self.bu(first_seq.wrapping_add(sent), 100, true), mag).unwrap();
            sent += 1;
            while Instant::now() < until {
                if let Some(ba) = tun.recv(until.saturating_duration_since(Instant::now())).and_then(|(_, ip)| self.take_ba(&ip).ok()) {
                    return Ok((ba, sent));
                }
            }
        }
        Err(format!("no Binding Acknowledgement from {} after {sent} Binding Updates (seq {first_seq}..)", self.cn))
    }

    /// Answers the route-optimized echo requests from the correspondent until `ping` (its
    /// ping to the home address) exits, each with an echo reply carrying a Home Address
    /// option. Every request must arrive for the care-of address with the home address in a
    /// Type 2 Routing Header (RFC 6275 §6.4). Returns ping's status and stdout, and how many
    /// requests arrived route-optimized. Panics if ping runs longer than 20 s.
    pub fn answer_pings(&self, tun: &TunnelEnd, mag: &Ipv6Addr, mut ping: Child) -> (ExitStatus, String, u64) {
        let mut optimized = 0u64;
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(st) = ping.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "ping did not finish");
            let Some((_, ip)) = tun.recv(Duration::from_millis(100)) else { continue };
            let Ok(h) = ipv6::Header::new_checked(&ip[..]) else { continue };
            let Ok(ch) = ext::walk(&ip) else { continue };
            if ch.upper_proto != ipv6::proto::ICMPV6 || ip.get(ch.upper_offset) != Some(&icmpv6::ECHO_REQUEST) {
                continue;
            }
            assert_eq!((h.src_addr(), h.dst_addr()), (self.cn, self.care_of), "an echo request from the correspondent to the care-of address");
            let rh = ch.routing.expect("a routing header");
            assert_eq!((rh.routing_type, rh.home_address), (2, Some(self.home)));
            optimized += 1;
            let icmp = &ip[ch.upper_offset..h.total_len()];
            let (id, seq) = (u16::from_be_bytes([icmp[4], icmp[5]]), u16::from_be_bytes([icmp[6], icmp[7]]));
            tun.send(&self.echo_reply_with_hao(id, seq, &icmp[8..]), mag).unwrap();
        };
        let out = ping.wait_with_output().unwrap();
        (status, String::from_utf8_lossy(&out.stdout).into_owned(), optimized)
    }
}
