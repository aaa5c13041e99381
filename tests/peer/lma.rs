//! `lma-peer`: the LMA's end of the MAG–LMA IPv6-in-IPv6 tunnel (RFC 5213 §6.10.5), for the
//! live tests and the demo, on kernels without `ip6_tunnel`.
//!
//! - Downlink: the kernel routes packets for the attached node's prefix into a TUN device;
//!   each one is sent over a raw IPv6 socket of protocol 41 to the MAG's Proxy-CoA, so the
//!   kernel prepends the outer header (next header 41, source = our core address).
//! - Uplink: the kernel gives an IPv6 raw socket of protocol 41 the payload after the outer
//!   header, i.e. the inner packet. If the outer source is the MAG, the inner packet is written
//!   to the TUN device and the kernel delivers or forwards it like any received packet.
//!   Anything else is dropped and counted.
//!
//! - MN1 mode (`--mn1 HOME,CARE_OF --cn MN2`): the peer also plays the mobile node MN1 of
//!   the draft's Figure 3 through the tunnel (see `mn1_mode.rs`). Tunnel packets for MN1's
//!   home or care-of address go to MN1, never to the TUN; everything else is forwarded as
//!   above. Return routability starts 1 s after start, or on SIGUSR1 with `--mn1-on-usr1`.
//!   With `--cn-from FILE` in place of `--cn` (and `--mn1-on-usr1`), MN2's address is read
//!   from FILE at the cue: a PMIPv6 MN2's address exists only once the LMA (this peer) has
//!   assigned its prefix and MN2 has autoconfigured it, so the demo writes it there then.
//!   If MN2 never answers, the peer exits with status 1.
//!
//! - PMIPv6 (RFC 5213 §5.3): Proxy Binding Updates from the MAG to any address of this host
//!   arrive on a raw socket of protocol 135 and are answered by `e2e::pmip_lma::Lma` with a
//!   Proxy Binding Acknowledgement from the address the PBU was sent to. A prefix the LMA
//!   assigns or grants is routed into the TUN device (`ip -6 route add PREFIX dev TUN`), so
//!   downlink to it goes through the tunnel; deregistration or expiry removes the route. A
//!   MAG in static mode sends no PBU, so none of this changes anything for it. Knobs:
//!   `--pba-status N` answers every PBU with status N and no prefix, `--drop-first-pbus N`
//!   drops the first N silently, `--lifetime SECONDS` grants at most that, `--silent` never
//!   answers, `--pool PREFIX/LEN` is where `::/0` requests get a /64 (default
//!   2001:db8:20::/48). One stderr line per PBU and per PBA.
//!
//! usage: lma-peer --tun NAME --mag ADDR [--duration SECONDS]
//!                 [--mn1 HOME,CARE_OF (--cn MN2_ADDR | --cn-from FILE) [--mn1-on-usr1]]
//!                 [--pba-status N] [--drop-first-pbus N] [--lifetime SECONDS] [--silent]
//!                 [--pool PREFIX/LEN]
//! Stops on SIGINT/SIGTERM or after the duration and prints its counters on stdout.

mod mn1_mode;

use e2e::pmip_lma::{Knobs, Lma, Route, LIFETIME_UNIT_SECS};
use mn1_mode::Mn1Mode;
use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::{self, Write};
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const IPPROTO_IPV6_IN_IP: libc::c_int = 41; // RFC 2473
const IPPROTO_MH: libc::c_int = wire::mobility::NEXT_HEADER as libc::c_int; // RFC 6275 §6.1
const IPV6_HEADER_LEN: usize = 40;
const BUF_LEN: usize = 65536;

static STOP: AtomicBool = AtomicBool::new(false);
/// MN1 mode's start cue (SIGUSR1).
static USR1: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGUSR1 {
        USR1.store(true, Ordering::Relaxed);
    } else {
        STOP.store(true, Ordering::Relaxed);
    }
}

struct Args {
    tun: String,
    mag: Ipv6Addr,
    duration: Option<Duration>,
    /// MN1 mode: (home address, care-of address, correspondent MN2, start on SIGUSR1).
    mn1: Option<(Ipv6Addr, Ipv6Addr, Correspondent, bool)>,
    /// How PBUs are answered.
    knobs: Knobs,
}

/// MN1 mode's correspondent, MN2: its address, or the file its address is read from at the
/// SIGUSR1 cue.
#[derive(Clone, Debug, PartialEq)]
enum Correspondent {
    Address(Ipv6Addr),
    FromFile(std::path::PathBuf),
}

impl Correspondent {
    /// The address, reading the file if need be (one address, surrounding white space ignored).
    fn address(&self) -> Result<Ipv6Addr, String> {
        match self {
            Correspondent::Address(a) => Ok(*a),
            Correspondent::FromFile(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("--cn-from {}: {e}", p.display()))?;
                address(&format!("--cn-from {}", p.display()), text.trim())
            }
        }
    }
}

const USAGE: &str = "usage: lma-peer --tun NAME --mag ADDR [--duration SECONDS] [--mn1 HOME,CARE_OF (--cn MN2_ADDR | --cn-from FILE) [--mn1-on-usr1]] [--pba-status N] [--drop-first-pbus N] [--lifetime SECONDS] [--silent] [--pool PREFIX/LEN]";

fn number<T: std::str::FromStr>(flag: &str, v: &str, what: &str) -> Result<T, String> {
    v.parse::<T>().map_err(|_| format!("{flag}: {v:?} is not {what}"))
}

/// `PREFIX/LEN` with LEN below 64 (the pool hands out /64s) and no bits set past LEN.
fn pool(v: &str) -> Result<(Ipv6Addr, u8), String> {
    let bad = || format!("--pool: {v:?} is not PREFIX/LEN with LEN 0..=63 and no bits set past LEN");
    let (p, l) = v.split_once('/').ok_or_else(bad)?;
    let (p, l) = (p.parse::<Ipv6Addr>().map_err(|_| bad())?, l.parse::<u8>().map_err(|_| bad())?);
    let host_bits = u128::MAX.checked_shr(u32::from(l)).unwrap_or(0);
    if l >= 64 || u128::from(p) & host_bits != 0 {
        return Err(bad());
    }
    Ok((p, l))
}

fn address(flag: &str, a: &str) -> Result<Ipv6Addr, String> {
    a.parse::<Ipv6Addr>().map_err(|_| format!("{flag}: {a:?} is not an IPv6 address"))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut tun, mut mag, mut duration) = (None, None, None);
    let (mut mn1, mut cn, mut on_usr1) = (None, None, false);
    let mut knobs = Knobs::default();
    while let Some(flag) = it.next() {
        let mut value = |what: &str| it.next().ok_or_else(|| format!("{flag} needs {what}"));
        match flag.as_str() {
            "--tun" => {
                let name = value("an interface name")?;
                if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', ' ', '\0']) {
                    return Err(format!("--tun: {name:?} is not an interface name (1..15 characters)"));
                }
                tun = Some(name);
            }
            "--mag" => {
                let a = value("an IPv6 address")?;
                mag = Some(a.parse::<Ipv6Addr>().map_err(|_| format!("--mag: {a:?} is not an IPv6 address"))?);
            }
            "--duration" => {
                let d = value("a number of seconds")?;
                let s = d.parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9);
                duration = Some(Duration::from_secs_f64(s.ok_or_else(|| format!("--duration: {d:?} is not a positive number of seconds"))?));
            }
            "--mn1" => {
                let v = value("HOME,CARE_OF")?;
                let (h, c) = v.split_once(',').ok_or_else(|| format!("--mn1: {v:?} is not HOME,CARE_OF"))?;
                mn1 = Some((address("--mn1", h)?, address("--mn1", c)?));
            }
            "--cn" => cn = Some(Correspondent::Address(address("--cn", &value("an IPv6 address")?)?)),
            "--cn-from" => cn = Some(Correspondent::FromFile(value("a file name")?.into())),
            "--mn1-on-usr1" => on_usr1 = true,
            "--pba-status" => knobs.pba_status = Some(number(&flag, &value("a status 0..=255")?, "a status 0..=255")?),
            "--drop-first-pbus" => knobs.drop_first_pbus = number(&flag, &value("a count")?, "a count")?,
            "--lifetime" => {
                let v = value("a number of seconds")?;
                let secs: u64 = number(&flag, &v, "a whole number of seconds")?;
                // A grant below one 4-second unit would read as lifetime 0 (RFC 6275 §6.1.8).
                if secs < LIFETIME_UNIT_SECS {
                    return Err(format!("--lifetime: {secs} s is below one lifetime unit ({LIFETIME_UNIT_SECS} s)"));
                }
                knobs.max_lifetime_units = (secs / LIFETIME_UNIT_SECS).min(u64::from(u16::MAX)) as u16;
            }
            "--silent" => knobs.silent = true,
            "--pool" => knobs.pool = pool(&value("PREFIX/LEN")?)?,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    let mn1 = match (mn1, cn) {
        (Some(_), Some(Correspondent::FromFile(_))) if !on_usr1 => return Err(format!("--cn-from needs --mn1-on-usr1 (the file is read at the cue); {USAGE}")),
        (Some((home, care_of)), Some(cn)) => Some((home, care_of, cn, on_usr1)),
        (None, None) if !on_usr1 => None,
        _ => return Err(format!("--mn1 and --cn go together, and --mn1-on-usr1 needs both; {USAGE}")),
    };
    Ok(Args {
        tun: tun.ok_or_else(|| format!("--tun is required; {USAGE}"))?,
        mag: mag.ok_or_else(|| format!("--mag is required; {USAGE}"))?,
        duration,
        mn1,
        knobs,
    })
}

#[derive(Default)]
struct Counters {
    /// TUN → tunnel: inner packets sent to the MAG.
    encapsulated: u64,
    /// Tunnel → TUN: inner packets from the MAG written to the TUN.
    decapsulated: u64,
    /// Tunnel packets from a source other than the MAG, or whose payload is not IPv6.
    rejected_source: u64,
    rejected_payload: u64,
    /// Packets read from the TUN that are not IPv6 or not for a routable destination.
    ignored: u64,
    /// sendto/write failures (e.g. EMSGSIZE, no neighbor yet).
    errors: u64,
    /// MN1 mode: tunnel packets for MN1 (handled by it), and packets MN1 sent.
    mn1: u64,
    mn1_sent: u64,
    /// Mobility Headers received on the MH socket, and PBAs sent.
    mh_received: u64,
    pba_sent: u64,
}

impl Counters {
    /// Write errors are ignored: a closed stdout must not turn a clean stop into a panic.
    fn print(&self) {
        let mut o = io::stdout().lock();
        let _ = writeln!(o, "lma_peer_encapsulated_total {}", self.encapsulated);
        let _ = writeln!(o, "lma_peer_decapsulated_total {}", self.decapsulated);
        let _ = writeln!(o, "lma_peer_rejected_total{{reason=\"source\"}} {}", self.rejected_source);
        let _ = writeln!(o, "lma_peer_rejected_total{{reason=\"payload\"}} {}", self.rejected_payload);
        let _ = writeln!(o, "lma_peer_ignored_total {}", self.ignored);
        let _ = writeln!(o, "lma_peer_errors_total {}", self.errors);
        if self.mn1 > 0 || self.mn1_sent > 0 {
            let _ = writeln!(o, "lma_peer_mn1_received_total {}", self.mn1);
            let _ = writeln!(o, "lma_peer_mn1_sent_total {}", self.mn1_sent);
        }
        if self.mh_received > 0 {
            let _ = writeln!(o, "lma_peer_mh_received_total {}", self.mh_received);
            let _ = writeln!(o, "lma_peer_pba_sent_total {}", self.pba_sent);
        }
        let _ = o.flush();
    }
}

fn last_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let c = CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a NUL"))?;
    let bytes = c.as_bytes_with_nul();
    if bytes.len() > libc::IFNAMSIZ {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(req)
}

/// Opens (creating it if needed) the TUN device `name` without packet information, and sets
/// it up.
fn open_tun(name: &str) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with a NUL-terminated path.
    let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if fd < 0 {
        return Err(last_error("open /dev/net/tun"));
    }
    // SAFETY: fd was just returned by open and is owned by nothing else.
    let tun = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes a struct ifreq, which `req` is.
    if unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
        return Err(last_error(&format!("TUNSETIFF {name}")));
    }
    set_up(name)?;
    Ok(tun)
}

fn set_up(name: &str) -> io::Result<()> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(last_error("socket for SIOCSIFFLAGS"));
    }
    // SAFETY: fd was just returned by socket.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write a struct ifreq; ifru_flags is the
    // union member these requests use.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(last_error(&format!("SIOCGIFFLAGS {name}")));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req) < 0 {
            return Err(last_error(&format!("SIOCSIFFLAGS {name} up")));
        }
    }
    Ok(())
}

fn open_raw() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, IPPROTO_IPV6_IN_IP) };
    if fd < 0 {
        return Err(last_error("socket(AF_INET6, SOCK_RAW, 41)"));
    }
    // SAFETY: fd was just returned by socket.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The raw socket PBUs arrive on. Linux computes and verifies the checksum of protocol-135
/// raw sockets itself (offset 4); IPV6_RECVPKTINFO gives each PBU's destination, which the
/// PBA is sent from (RFC 5213 §5.3: the PBA's source is the LMA address the PBU reached).
fn open_mh() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, IPPROTO_MH) };
    if fd < 0 {
        return Err(last_error("socket(AF_INET6, SOCK_RAW, 135)"));
    }
    // SAFETY: fd was just returned by socket.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let on: libc::c_int = 1;
    // SAFETY: IPV6_RECVPKTINFO takes an int, which `on` is.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(last_error("setsockopt IPV6_RECVPKTINFO"));
    }
    Ok(sock)
}

/// One Mobility Header from the MH socket: (source, destination, length in `buf`), or
/// `None` when there is nothing more to read.
fn recv_mh(sock: &OwnedFd, buf: &mut [u8]) -> Option<(Ipv6Addr, Option<Ipv6Addr>, usize)> {
    // SAFETY: sockaddr_in6 and msghdr are plain old data; all-zero is a valid value.
    let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // u64s: cmsghdr alignment.
    let mut control = [0u64; 16];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers of the lengths it states.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return None;
    }
    let mut dst = None;
    // SAFETY: the CMSG_* walk stays within msg_control as the kernel filled it; the
    // pktinfo payload is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_PKTINFO {
                let info: libc::in6_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((Ipv6Addr::from(from.sin6_addr.s6_addr), dst, n as usize))
}

/// Sends `mh` to `dst` from the local address `src` (IPV6_PKTINFO).
fn send_mh(sock: &OwnedFd, src: Ipv6Addr, dst: Ipv6Addr, mh: &[u8]) -> io::Result<()> {
    let to = sockaddr(dst);
    let mut iov = libc::iovec { iov_base: mh.as_ptr() as *mut libc::c_void, iov_len: mh.len() };
    let mut control = [0u64; 8];
    let info = libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: src.octets() }, ipi6_ifindex: 0 };
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&to as *const libc::sockaddr_in6).cast_mut().cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE/CMSG_LEN are arithmetic; the one cmsghdr fits the 64-byte buffer.
    unsafe {
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::in6_pktinfo>() as u32) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::IPPROTO_IPV6;
        (*c).cmsg_type = libc::IPV6_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in6_pktinfo>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
    }
    // SAFETY: msg points at live buffers of the lengths it states.
    if unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The routes this peer added into its TUN device, so it removes only those (a route that
/// was there already, such as the topology's static prefix, stays).
struct TunRoutes {
    tun: String,
    ours: BTreeSet<(Ipv6Addr, u8)>,
}

impl TunRoutes {
    fn ip_route(&self, verb: &str, p: Ipv6Addr, l: u8) -> Result<(), String> {
        let prefix = format!("{p}/{l}");
        let out =
            std::process::Command::new("ip").args(["-6", "route", verb, &prefix, "dev", &self.tun]).output().map_err(|e| format!("cannot run ip: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    fn apply(&mut self, r: Route, c: &mut Counters) {
        match r {
            Route::Add(p, l) => match self.ip_route("add", p, l) {
                Ok(()) => {
                    self.ours.insert((p, l));
                    eprintln!("lma-peer: route {p}/{l} dev {} added", self.tun);
                }
                Err(e) if e.contains("File exists") => eprintln!("lma-peer: route {p}/{l} exists already, left as it is"),
                Err(e) => {
                    c.errors += 1;
                    eprintln!("lma-peer: ip -6 route add {p}/{l} dev {}: {e}", self.tun);
                }
            },
            Route::Remove(p, l) => {
                if !self.ours.remove(&(p, l)) {
                    return;
                }
                match self.ip_route("del", p, l) {
                    Ok(()) => eprintln!("lma-peer: route {p}/{l} dev {} removed", self.tun),
                    Err(e) => {
                        c.errors += 1;
                        eprintln!("lma-peer: ip -6 route del {p}/{l} dev {}: {e}", self.tun);
                    }
                }
            }
        }
    }
}

/// On every exit: the TUN device may outlive the peer (`ip tuntap add`), and its routes too.
impl Drop for TunRoutes {
    fn drop(&mut self) {
        let mut c = Counters::default();
        for (p, l) in self.ours.clone() {
            self.apply(Route::Remove(p, l), &mut c);
        }
    }
}

/// PBUs in, PBAs out, routes changed: every readable Mobility Header.
fn drain_mh(sock: &OwnedFd, lma: &mut Lma, routes: &mut TunRoutes, buf: &mut [u8], c: &mut Counters) {
    while let Some((src, dst, n)) = recv_mh(sock, buf) {
        c.mh_received += 1;
        let Some(dst) = dst else {
            c.errors += 1;
            eprintln!("lma-peer: a Mobility Header from {src} without its destination (IPV6_PKTINFO)");
            continue;
        };
        let out = lma.handle(src, dst, &buf[..n], Instant::now());
        for l in &out.log {
            eprintln!("lma-peer: {l}");
        }
        for r in out.routes {
            routes.apply(r, c);
        }
        if let Some((from, to, mh)) = out.reply {
            match send_mh(sock, from, to, &mh) {
                Ok(()) => c.pba_sent += 1,
                Err(e) => {
                    c.errors += 1;
                    eprintln!("lma-peer: sending the PBA to {to}: {e}");
                }
            }
        }
    }
}

/// Reads and clears a pending asynchronous socket error (SO_ERROR).
fn take_socket_error(sock: &OwnedFd) -> io::Error {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: err and len are valid for SO_ERROR's int result.
    let r = unsafe { libc::getsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR, (&mut err as *mut libc::c_int).cast(), &mut len) };
    if r < 0 {
        return last_error("getsockopt SO_ERROR");
    }
    io::Error::from_raw_os_error(err)
}

fn sockaddr(addr: Ipv6Addr) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = addr.octets();
    sa
}

fn is_ipv6(p: &[u8]) -> bool {
    p.len() >= IPV6_HEADER_LEN && p[0] >> 4 == 6
}

/// The destination address of an IPv6 packet; `None` if it is not one.
fn ipv6_destination(p: &[u8]) -> Option<Ipv6Addr> {
    let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
    (p[0] >> 4 == 6).then_some(Ipv6Addr::from(dst))
}

fn is_routable_destination(a: Ipv6Addr) -> bool {
    wire::addr::is_routable_unicast(&a)
}

/// SIGINT/SIGTERM stop; SIGUSR1 (MN1 mode only) is the cue to start.
fn install_signal_handlers(mn1: bool) {
    let sigs: &[libc::c_int] = if mn1 { &[libc::SIGINT, libc::SIGTERM, libc::SIGUSR1] } else { &[libc::SIGINT, libc::SIGTERM] };
    for &sig in sigs {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// One inner packet down the tunnel to the MAG (the kernel adds the outer header).
fn send_to_mag(raw: &OwnedFd, mag: &libc::sockaddr_in6, pkt: &[u8]) -> io::Result<()> {
    // SAFETY: pkt and mag are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            raw.as_raw_fd(),
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            (mag as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// MN1's packets into the tunnel, counted.
fn mn1_sender<'a>(raw: &'a OwnedFd, mag: &'a libc::sockaddr_in6, c: &'a mut Counters) -> impl FnMut(&[u8]) + 'a {
    move |pkt| match send_to_mag(raw, mag, pkt) {
        Ok(()) => c.mn1_sent += 1,
        Err(e) => {
            c.errors += 1;
            eprintln!("lma-peer: MN1: sendto MAG: {e}");
        }
    }
}

/// TUN → tunnel: every readable packet.
fn drain_tun(tun: &OwnedFd, raw: &OwnedFd, mag: &libc::sockaddr_in6, buf: &mut [u8], c: &mut Counters) {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(tun.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return; // EAGAIN (drained), or an error poll reports again
        }
        let pkt = &buf[..n as usize];
        // Only what the kernel routes toward the attached nodes' prefixes belongs in the
        // tunnel; link-scope and multicast traffic of the TUN device itself does not.
        if !ipv6_destination(pkt).is_some_and(is_routable_destination) {
            c.ignored += 1;
            continue;
        }
        if let Err(e) = send_to_mag(raw, mag, pkt) {
            c.errors += 1;
            eprintln!("lma-peer: sendto MAG: {e}");
        } else {
            c.encapsulated += 1;
        }
    }
}

/// Tunnel → TUN (or MN1): every received tunnel packet. `Err` when MN1 gives up.
fn drain_raw(tun: &OwnedFd, raw: &OwnedFd, mag: Ipv6Addr, buf: &mut [u8], c: &mut Counters, mut mn1: Option<&mut Mn1Mode>) -> Result<(), String> {
    loop {
        // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
        let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        let mut from_len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        // SAFETY: buf and from are valid for the lengths given.
        let n = unsafe { libc::recvfrom(raw.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0, (&mut from as *mut libc::sockaddr_in6).cast(), &mut from_len) };
        if n < 0 {
            return Ok(());
        }
        let inner = &buf[..n as usize];
        let source = Ipv6Addr::from(from.sin6_addr.s6_addr);
        if from.sin6_family != libc::AF_INET6 as libc::sa_family_t || source != mag {
            c.rejected_source += 1;
            eprintln!("lma-peer: dropped a tunnel packet from {source} (expected the MAG {mag})");
            continue;
        }
        if !is_ipv6(inner) {
            c.rejected_payload += 1;
            continue;
        }
        if let Some(m) = mn1.as_deref_mut().filter(|m| ipv6_destination(inner).is_some_and(|d| m.owns(d))) {
            c.mn1 += 1;
            m.handle(inner, Instant::now(), &mut mn1_sender(raw, &sockaddr(mag), c))?;
            continue;
        }
        // SAFETY: inner is valid for inner.len() bytes.
        if unsafe { libc::write(tun.as_raw_fd(), inner.as_ptr().cast(), inner.len()) } < 0 {
            c.errors += 1;
            eprintln!("lma-peer: write to TUN: {}", io::Error::last_os_error());
        } else {
            c.decapsulated += 1;
        }
    }
}

fn run(args: &Args) -> io::Result<Counters> {
    let tun = open_tun(&args.tun)?;
    let raw = open_raw()?;
    let mh = open_mh()?;
    let mut lma = Lma::new(args.mag, args.knobs.clone());
    let mut routes = TunRoutes { tun: args.tun.clone(), ours: BTreeSet::new() };
    let mag = sockaddr(args.mag);
    install_signal_handlers(args.mn1.is_some());
    let start = Instant::now();
    let mut mn1 = args.mn1.as_ref().map(|(home, care_of, cn, on_usr1)| {
        // Without the cue, give neighbor discovery with the MAG a moment first. A file's
        // address is set at the cue.
        let cn = match cn {
            Correspondent::Address(a) => *a,
            Correspondent::FromFile(_) => Ipv6Addr::UNSPECIFIED,
        };
        Mn1Mode::new(*home, *care_of, cn, (!on_usr1).then(|| start + Duration::from_secs(1)))
    });
    match &args.mn1 {
        None => eprintln!("lma-peer: running (tun {}, MAG {})", args.tun, args.mag),
        Some((home, care_of, cn, on_usr1)) => eprintln!(
            "lma-peer: running (tun {}, MAG {}; MN1 home {home} care-of {care_of} with MN2 {}, starting {})",
            args.tun,
            args.mag,
            match cn {
                Correspondent::Address(a) => a.to_string(),
                Correspondent::FromFile(p) => format!("(address read from {} at the cue)", p.display()),
            },
            if *on_usr1 { "on SIGUSR1" } else { "in 1 s" }
        ),
    }

    let mut c = Counters::default();
    let mut buf = vec![0u8; BUF_LEN];
    while !STOP.load(Ordering::Relaxed) && args.duration.is_none_or(|d| start.elapsed() < d) {
        let mut fds = [
            libc::pollfd { fd: tun.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: raw.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: mh.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        // Short timeout: the stop flag and the duration are checked at least 5 times a second.
        // SAFETY: fds is a valid array of 3 pollfd.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 200) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io::Error::new(e.kind(), format!("poll: {e}")));
        }
        if fds.iter().any(|f| f.revents & libc::POLLNVAL != 0) || fds[0].revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            return Err(io::Error::other(format!("the TUN device {} or the raw socket failed", args.tun)));
        }
        if fds[1].revents & libc::POLLERR != 0 {
            c.errors += 1;
            eprintln!("lma-peer: raw socket: {}", take_socket_error(&raw));
        }
        if fds[0].revents & libc::POLLIN != 0 {
            drain_tun(&tun, &raw, &mag, &mut buf, &mut c);
        }
        if fds[1].revents & libc::POLLIN != 0 {
            drain_raw(&tun, &raw, args.mag, &mut buf, &mut c, mn1.as_mut()).map_err(io::Error::other)?;
        }
        if fds[2].revents & libc::POLLERR != 0 {
            c.errors += 1;
            eprintln!("lma-peer: MH socket: {}", take_socket_error(&mh));
        }
        if fds[2].revents & libc::POLLIN != 0 {
            drain_mh(&mh, &mut lma, &mut routes, &mut buf, &mut c);
        }
        let (expired, log) = lma.expire(Instant::now());
        for l in &log {
            eprintln!("lma-peer: {l}");
        }
        for r in expired {
            routes.apply(r, &mut c);
        }
        if let Some(m) = mn1.as_mut() {
            if USR1.swap(false, Ordering::Relaxed) {
                let cn = args.mn1.as_ref().map(|(_, _, cn, _)| cn.address()).transpose().map_err(io::Error::other)?;
                m.start(Instant::now(), cn);
            }
            m.tick(Instant::now(), &mut mn1_sender(&raw, &mag, &mut c)).map_err(io::Error::other)?;
        }
    }
    Ok(c)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lma-peer: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(c) => {
            eprintln!("lma-peer: stopped");
            c.print();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lma-peer: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<Args, String> {
        let base = ["--tun", "lmatun", "--mag", "2001:db8:c0::1"];
        parse_args(base.iter().chain(extra).map(|s| s.to_string()))
    }

    #[test]
    fn static_mode_flags_keep_the_default_knobs() {
        assert_eq!(args(&[]).unwrap().knobs, Knobs::default());
    }

    #[test]
    fn pmip_knobs_parse() {
        let k = args(&["--pba-status", "153", "--drop-first-pbus", "2", "--lifetime", "10", "--silent", "--pool", "2001:db8:40::/56"]).unwrap().knobs;
        assert_eq!(k.pba_status, Some(153));
        assert_eq!(k.drop_first_pbus, 2);
        assert_eq!(k.max_lifetime_units, 2, "10 s is 2 whole units");
        assert!(k.silent);
        assert_eq!(k.pool, ("2001:db8:40::".parse().unwrap(), 56));
        assert_eq!(args(&["--lifetime", "1000000"]).unwrap().knobs.max_lifetime_units, u16::MAX);
    }

    #[test]
    fn the_correspondent_comes_from_a_file_at_the_cue() {
        let mn1 = ["--mn1", "2001:db8:1::100,2001:db8:2::200"];
        let a = args(&[&mn1[..], &["--cn-from", "/nonexistent/mn2", "--mn1-on-usr1"]].concat()).unwrap();
        let (_, _, cn, on_usr1) = a.mn1.unwrap();
        assert_eq!((cn.clone(), on_usr1), (Correspondent::FromFile("/nonexistent/mn2".into()), true));
        assert!(cn.address().unwrap_err().contains("/nonexistent/mn2"));
        assert!(args(&[&mn1[..], &["--cn-from", "/nonexistent/mn2"]].concat()).is_err(), "without the cue there is no time to read it");
        let dir = std::env::temp_dir().join(format!("lma-peer-cn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("mn2");
        std::fs::write(&f, "2001:db8:20:1::300\n").unwrap();
        assert_eq!(Correspondent::FromFile(f.clone()).address().unwrap(), "2001:db8:20:1::300".parse::<Ipv6Addr>().unwrap());
        std::fs::write(&f, "not an address").unwrap();
        assert!(Correspondent::FromFile(f).address().is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_pmip_knobs_are_refused() {
        for bad in [
            &["--pba-status", "256"][..],
            &["--drop-first-pbus", "-1"],
            &["--lifetime", "3"],
            &["--lifetime", "1.5"],
            &["--pool", "2001:db8:20::/64"],
            &["--pool", "2001:db8:20::1/48"],
            &["--pool", "2001:db8:20::"],
        ] {
            assert!(args(bad).is_err(), "{bad:?} accepted");
        }
    }
}
