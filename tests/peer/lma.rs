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
//!   If MN2 never answers, the peer exits with status 1.
//!
//! usage: lma-peer --tun NAME --mag ADDR [--duration SECONDS]
//!                 [--mn1 HOME,CARE_OF --cn MN2_ADDR [--mn1-on-usr1]]
//! Stops on SIGINT/SIGTERM or after the duration and prints its counters on stdout.

mod mn1_mode;

use mn1_mode::Mn1Mode;
use std::ffi::CString;
use std::io::{self, Write};
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const IPPROTO_IPV6_IN_IP: libc::c_int = 41; // RFC 2473
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
    mn1: Option<(Ipv6Addr, Ipv6Addr, Ipv6Addr, bool)>,
}

const USAGE: &str = "usage: lma-peer --tun NAME --mag ADDR [--duration SECONDS] [--mn1 HOME,CARE_OF --cn MN2_ADDR [--mn1-on-usr1]]";

fn address(flag: &str, a: &str) -> Result<Ipv6Addr, String> {
    a.parse::<Ipv6Addr>().map_err(|_| format!("{flag}: {a:?} is not an IPv6 address"))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut tun, mut mag, mut duration) = (None, None, None);
    let (mut mn1, mut cn, mut on_usr1) = (None, None, false);
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
            "--cn" => cn = Some(address("--cn", &value("an IPv6 address")?)?),
            "--mn1-on-usr1" => on_usr1 = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    let mn1 = match (mn1, cn) {
        (Some((home, care_of)), Some(cn)) => Some((home, care_of, cn, on_usr1)),
        (None, None) if !on_usr1 => None,
        _ => return Err(format!("--mn1 and --cn go together, and --mn1-on-usr1 needs both; {USAGE}")),
    };
    Ok(Args {
        tun: tun.ok_or_else(|| format!("--tun is required; {USAGE}"))?,
        mag: mag.ok_or_else(|| format!("--mag is required; {USAGE}"))?,
        duration,
        mn1,
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
        let n = unsafe {
            libc::recvfrom(raw.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0, (&mut from as *mut libc::sockaddr_in6).cast(), &mut from_len)
        };
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
    let mag = sockaddr(args.mag);
    install_signal_handlers(args.mn1.is_some());
    let start = Instant::now();
    let mut mn1 = args.mn1.map(|(home, care_of, cn, on_usr1)| {
        // Without the cue, give neighbor discovery with the MAG a moment first.
        Mn1Mode::new(home, care_of, cn, (!on_usr1).then(|| start + Duration::from_secs(1)))
    });
    match args.mn1 {
        None => eprintln!("lma-peer: running (tun {}, MAG {})", args.tun, args.mag),
        Some((home, care_of, cn, on_usr1)) => eprintln!(
            "lma-peer: running (tun {}, MAG {}; MN1 home {home} care-of {care_of} with MN2 {cn}, starting {})",
            args.tun,
            args.mag,
            if on_usr1 { "on SIGUSR1" } else { "in 1 s" }
        ),
    }

    let mut c = Counters::default();
    let mut buf = vec![0u8; BUF_LEN];
    while !STOP.load(Ordering::Relaxed) && args.duration.is_none_or(|d| start.elapsed() < d) {
        let mut fds = [
            libc::pollfd { fd: tun.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: raw.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        // Short timeout: the stop flag and the duration are checked at least 5 times a second.
        // SAFETY: fds is a valid array of 2 pollfd.
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
        if let Some(m) = mn1.as_mut() {
            if USR1.swap(false, Ordering::Relaxed) {
                m.start(Instant::now());
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
