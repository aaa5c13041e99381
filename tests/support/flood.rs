//! Floods for the live tests (issue 11): what an off-path attacker sends through the LMA
//! tunnel to an attached node the agent answers for (HoTI, CoTI and forged Binding Updates
//! from 65,536 spoofed sources), and hop-limit-1 frames from an attached node on the access
//! link; a thread that sends them round-robin, paced or as fast as it can, and counts; and the sockets
//! the access-link tests need besides [`crate::tunnel_end::TunnelEnd`]: an AF_PACKET socket
//! that sends whole frames, and a raw ICMPv6 socket that counts Time Exceeded messages.

use crate::mn1::mh_packet;
use crate::netns::{in_netns, raw_ipv6_socket};
use crate::packets::{ipv6_frame, udp_packet};
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wire::ethernet::MacAddr;
use wire::icmpv6;
use wire::mobility::{BindingUpdate, CareOfTestInit, HomeTestInit, AUTHENTICATOR_LEN};

/// Spoofed sources in a signaling flood: as many as the agent keeps per-source rate-limit
/// buckets for (`reflector::limits`).
pub const SOURCES: u32 = 65_536;

/// Spoofed source `i` (0 ≤ i < [`SOURCES`]): home address 2001:db8:66::/64 + 1 + i and care-of
/// address 2001:db8:67::/64 + 1 + i, prefixes that are not MN1's.
pub fn spoofed(i: u32) -> (Ipv6Addr, Ipv6Addr) {
    let at = |prefix: u16| Ipv6Addr::from(u128::from(Ipv6Addr::new(0x2001, 0xdb8, prefix, 0, 0, 0, 0, 0)) + 1 + u128::from(i));
    (at(0x66), at(0x67))
}

/// SplitMix64: cookies, sequence numbers and authenticators that look random, the same in
/// every run.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What spoofed source `i` ([`spoofed`]) sends to the correspondent `cn`: a HoTI from its home
/// address, a CoTI from its care-of address, and a Binding Update from the care-of address
/// with the home address in a Home Address option, Nonce Indices `nonce_indices` and a
/// Binding Authorization Data option whose authenticator is random (no keygen token is
/// behind it). Every layout and checksum is valid: only the authenticator is wrong.
pub fn spoofed_signaling(i: u32, cn: Ipv6Addr, nonce_indices: (u16, u16)) -> [Vec<u8>; 3] {
    let (home, care_of) = spoofed(i);
    let r = |k: u64| mix(u64::from(i) << 8 | k);
    let mut authenticator = [0u8; AUTHENTICATOR_LEN];
    authenticator[..8].copy_from_slice(&r(3).to_be_bytes());
    authenticator[8..].copy_from_slice(&r(4).to_be_bytes()[..4]);
    let bu = BindingUpdate {
        seq: r(2) as u16,
        ack: true,
        lifetime_units: 100,
        nonce_indices: Some(nonce_indices),
        has_bad: true,
        authenticator,
        ..Default::default()
    };
    [
        mh_packet(home, cn, None, HomeTestInit { cookie: r(0).to_be_bytes() }.to_bytes()),
        mh_packet(care_of, cn, None, CareOfTestInit { cookie: r(1).to_be_bytes() }.to_bytes()),
        mh_packet(care_of, cn, Some(home), bu.to_bytes()),
    ]
}

/// The signaling flood to `cn`: [`spoofed_signaling`] of every source in turn (HoTI, CoTI and
/// BU of source 0, then of source 1, …), so each packet is from a source the agent has not
/// heard from for a whole round (196,608 packets): no source comes near the per-source
/// reply limit, only the overall one holds. Half of the Binding Updates name `issued`, nonce indices
/// the agent gave out (it then derives both keygen tokens and Kbm before the authenticator
/// fails), the other half indices it never issued (answered with status 138, expired
/// nonces, when the rate limit lets it).
pub fn signaling_flood(cn: Ipv6Addr, issued: (u16, u16)) -> Vec<Vec<u8>> {
    let never = (issued.0.wrapping_add(0x8000), issued.1.wrapping_add(0x8000));
    (0..SOURCES).flat_map(|i| spoofed_signaling(i, cn, if i % 2 == 0 { issued } else { never })).collect()
}

/// `n` Ethernet frames from an attached node (`mac`, `src`) to its router's MAC `router`:
/// UDP to `dst` beyond the router with hop limit 1 (valid checksum, source ports 1024 + k),
/// each one due a Time Exceeded (RFC 4443 §3.3).
pub fn hop_limit_one(router: MacAddr, mac: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, n: u16) -> Vec<Vec<u8>> {
    (0..n).map(|k| ipv6_frame(router, mac, &udp_packet(src, dst, 1, 1024 + k, 9, b"hop limit one"))).collect()
}

/// What a flood sent: packets the socket took, sends it refused (e.g. `ENOBUFS`), and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub packets: u64,
    pub refused: u64,
    pub elapsed: Duration,
}

impl Sent {
    pub fn per_sec(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What a flood test prints: "N packets (R refused by the socket) in S s = P/s from one
/// thread (paced at X/s | unpaced)".
impl std::fmt::Display for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} packets ({} refused by the socket) in {:.1} s = {:.0}/s from one thread",
            self.packets,
            self.refused,
            self.elapsed.as_secs_f64(),
            self.per_sec()
        )?;
        match per_sec() {
            Some(r) => write!(f, " (paced at {r:.0}/s)"),
            None => write!(f, " (unpaced)"),
        }
    }
}

/// A thread that runs until told to stop (or for as long as it likes), and what it returns;
/// dropped, it is stopped and joined.
struct Background<T> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Background<T> {
    /// Runs `f` on a thread; `f` watches the flag it is given.
    fn spawn(f: impl FnOnce(Arc<AtomicBool>) -> T + Send + 'static) -> Background<T> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        Background { stop, thread: Some(std::thread::spawn(move || f(flag))) }
    }

    /// Tells the thread to stop, and waits for it.
    fn stop(mut self) -> T {
        self.stop.store(true, Ordering::Relaxed);
        self.wait_mut()
    }

    /// Waits for the thread to end by itself.
    fn wait(mut self) -> T {
        self.wait_mut()
    }

    fn wait_mut(&mut self) -> T {
        self.thread.take().expect("joined once").join().expect("background thread")
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The CPU a flood and the rest of a flood test run on: the control core's (lcore 0 in
/// `run::eal_args`), never the worker's (lcore 1). On a two-CPU test machine, a flood thread
/// the scheduler puts on the worker's CPU, with the kernel's work of delivering its frames,
/// takes that CPU from the worker: at ~230,000 hop-limit-1 frames/s up to half the frames
/// and of MN2's pings were lost before roagent read them. That measures the scheduler, not the
/// product; frames from a NIC take no CPU from the worker.
pub const FLOOD_CPU: usize = 0;

/// Pins the calling thread to [`FLOOD_CPU`]; the threads and processes it starts from then
/// on (pings, tcpdump) inherit the mask.
pub fn pin_to_flood_cpu() {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays within it for FLOOD_CPU < 1024.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(FLOOD_CPU, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(r, 0, "pinning a thread to CPU {FLOOD_CPU}: {}", io::Error::last_os_error());
}

/// How fast the live tests flood, in packets per second: [`PER_SEC`], or
/// `$E2E_FLOOD_PER_SEC` (0: as fast as one thread can, unpaced).
///
/// Not as fast as one thread can by default. Here that is ~115,000–150,000 packets/s down
/// the tunnel and ~200,000–280,000 frames/s on the access link: about what the debug
/// build's worker reads from `net_af_packet` (a 512-frame ring) at best, so a few
/// milliseconds without the worker scheduled overflow the ring and the kernel drops frames,
/// MN1's and MN2's among them, before roagent sees them. Measured unpaced: 1–15 % of the
/// tunnel flood lost so, and 1 or 2 of MN2's pings in 2 of 8 runs of the two tests,
/// whatever roagent does with what it reads. 50,000 per second is 50 times the agent's
/// overall reply limit, 10,000 times its per-source limit and 500 times the ICMPv6 error
/// limit, and the worker reads all of it.
pub fn per_sec() -> Option<f64> {
    let r = std::env::var("E2E_FLOOD_PER_SEC").map_or(PER_SEC, |v| v.parse().expect("E2E_FLOOD_PER_SEC is a number"));
    (r > 0.0).then_some(r)
}

/// The live floods' rate unless `$E2E_FLOOD_PER_SEC` says otherwise ([`per_sec`]).
pub const PER_SEC: f64 = 50_000.0;

/// A thread sending packets round-robin, as fast as it can or at a given rate, until
/// stopped (also on drop); it runs on [`FLOOD_CPU`].
pub struct Flood(Background<Sent>);

impl Flood {
    /// Sends `packets` round-robin through `send`, `per_sec` a second or as fast as it can
    /// (`None`), until [`Flood::stop`] or for `at_most`.
    pub fn start<F>(packets: Vec<Vec<u8>>, per_sec: Option<f64>, at_most: Duration, mut send: F) -> Flood
    where
        F: FnMut(&[u8]) -> io::Result<()> + Send + 'static,
    {
        assert!(!packets.is_empty(), "a flood of something");
        Flood(Background::spawn(move |flag| {
            pin_to_flood_cpu();
            let start = Instant::now();
            let mut sent = Sent { packets: 0, refused: 0, elapsed: Duration::ZERO };
            'flood: loop {
                for chunk in packets.chunks(256) {
                    if flag.load(Ordering::Relaxed) || start.elapsed() >= at_most {
                        break 'flood;
                    }
                    for p in chunk {
                        // Evenly spaced, not in bursts: between bursts the agent's reply
                        // bucket refills for whoever comes next (measured: MN1 got through
                        // the old limits at 50,000/s sent 64 at a time every 1.3 ms). A busy
                        // wait: with sched_yield in it, MN2's ping started ~5 s late in 3 of
                        // 13 runs.
                        if let Some(r) = per_sec {
                            let due = start + Duration::from_secs_f64((sent.packets + sent.refused) as f64 / r);
                            while Instant::now() < due {
                                std::hint::spin_loop();
                            }
                        }
                        match send(p) {
                            Ok(()) => sent.packets += 1,
                            Err(_) => sent.refused += 1,
                        }
                    }
                }
            }
            sent.elapsed = start.elapsed();
            sent
        }))
    }

    /// Stops the flood now.
    pub fn stop(self) -> Sent {
        self.0.stop()
    }

    /// Waits for the flood to run its `at_most`.
    pub fn wait(self) -> Sent {
        self.0.wait()
    }
}

/// An AF_PACKET socket on one interface of a namespace: sends whole Ethernet frames, past
/// the namespace's IPv6 stack (as a host with a broken or hostile stack would); receives
/// nothing (protocol 0).
pub struct LinkSocket {
    fd: OwnedFd,
}

impl LinkSocket {
    pub fn open(ns: &str, ifname: &str) -> io::Result<LinkSocket> {
        let name = std::ffi::CString::new(ifname).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        in_netns(ns, move || {
            // SAFETY: a NUL-terminated name; the result is checked.
            let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if ifindex == 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: plain socket creation; the result is checked.
            let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a fresh descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: zeroed sockaddr_ll is valid; family and interface set below.
            let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sa.sll_family = libc::AF_PACKET as libc::c_ushort;
            sa.sll_ifindex = ifindex as libc::c_int;
            // SAFETY: a valid address of the stated size.
            let r =
                unsafe { libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_ll).cast(), std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t) };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(LinkSocket { fd })
        })
    }

    /// Sends one Ethernet frame (header included) on the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: a valid buffer of the stated length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Counts, on a thread with a raw ICMPv6 socket in a namespace, the Time Exceeded messages
/// that arrive there about packets to one destination.
pub struct TimeExceededCount(Background<u64>);

impl TimeExceededCount {
    /// Starts counting in `ns` the Time Exceeded messages whose invoking packet was to `about`.
    pub fn start(ns: &str, about: Ipv6Addr) -> io::Result<TimeExceededCount> {
        let fd = raw_ipv6_socket(ns, libc::IPPROTO_ICMPV6)?;
        Ok(TimeExceededCount(Background::spawn(move |flag| {
            let mut buf = vec![0u8; 2048];
            let mut count = 0;
            // The ICMPv6 message, without the IPv6 header: type, code, checksum, unused, then
            // the invoking packet, whose destination is at 24..40 of its header.
            let dst_at = 8 + 24..8 + 40;
            while !flag.load(Ordering::Relaxed) {
                let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut pfd, 1, 50) } <= 0 {
                    continue;
                }
                // SAFETY: a valid buffer of the stated length.
                let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
                let Ok(n) = usize::try_from(n) else { continue };
                let m = &buf[..n];
                if m.first() == Some(&icmpv6::TIME_EXCEEDED) && m.get(dst_at.clone()) == Some(&about.octets()[..]) {
                    count += 1;
                }
            }
            count
        })))
    }

    /// Stops counting; how many arrived.
    pub fn stop(self) -> u64 {
        self.0.stop()
    }
}
