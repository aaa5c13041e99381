//! The HTTP endpoint under the attacks of issue 11 (on 127.0.0.1, `net_null` ports): a client
//! trickling a request head one byte every 1.5 s, more such clients than the connection cap,
//! and a client sending 400 MB without a newline. A scrape still answers within 1 s, the slow
//! clients are cut off by the head deadline or the cap, the flood after the head bound, the
//! process's memory stays flat, and every refusal is counted.

use e2e::run::{eal_args, roagent_bin, Counters, Scratch};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cap the tests configure (`metrics.max_connections`).
const CAP: usize = 8;
/// The server's head deadline (`control/src/http.rs`), and what a test allows beyond it.
const HEAD_DEADLINE: Duration = Duration::from_secs(5);
const SLACK: Duration = Duration::from_millis(1500);

/// One roagent at a time: each one's worker spins on a core, and the latency asserted here is
/// the endpoint's, not the scheduler's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A roagent running in the background on `net_null` ports, its metrics on a free port.
struct Roagent {
    child: Child,
    addr: String,
    _scratch: Scratch,
}

impl Roagent {
    fn start(name: &str) -> Roagent {
        let scratch = Scratch::new(name);
        let cfg = format!(
            "[eal]\nargs = {}\n[ports.access]\ndevice = \"net_null0\"\n[ports.core]\ndevice = \"net_null1\"\n[mag]\nproxy_coa = \"2001:db8:c0::1\"\nsignaling = \"static\"\n\
             [[lma]]\naddress = \"2001:db8:c0::2\"\n[[node]]\nname = \"mn2\"\nprefixes = [\"2001:db8:3::/64\"]\n\
             [metrics]\naddress = \"127.0.0.1:0\"\nmax_connections = {CAP}\n",
            eal_args(&format!("ro{}{name}", std::process::id()))
        );
        let path = scratch.0.join("roagent.toml");
        std::fs::write(&path, cfg).unwrap();
        let mut child = Command::new(roagent_bin())
            .args(["run", "--config"])
            .arg(&path)
            .args(["--duration", "120"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("roagent runs");
        // The log line naming the address; the rest of stderr is drained so roagent never blocks.
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut addr = None;
        let mut line = String::new();
        while addr.is_none() && stderr.read_line(&mut line).unwrap_or(0) > 0 {
            addr = line.split_once("metrics on http://").and_then(|(_, r)| r.split_once("/metrics")).map(|(a, _)| a.to_string());
            line.clear();
        }
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let Some(addr) = addr else {
            let _ = child.kill();
            panic!("roagent did not say where its metrics are: {:?}", child.wait());
        };
        Roagent { child, addr, _scratch: scratch }
    }

    /// VmRSS of the roagent process, in kB.
    fn rss_kb(&self) -> u64 {
        e2e::run::vm_rss_kb(self.child.id()).expect("roagent's VmRSS")
    }

    /// `GET /metrics`: the counters and how long the answer took; panics unless it is a 200
    /// within `within`.
    fn scrape_within(&self, within: Duration) -> (Counters, Duration) {
        let t = Instant::now();
        let mut c = TcpStream::connect(&self.addr).unwrap();
        c.set_read_timeout(Some(within)).unwrap();
        write!(c, "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr).unwrap();
        let mut resp = String::new();
        if let Err(e) = c.read_to_string(&mut resp) {
            panic!("a scrape did not answer within {within:?}: {e} (after {:?}, {} bytes)", t.elapsed(), resp.len());
        }
        let took = t.elapsed();
        assert!(took < within, "the scrape took {took:?}");
        assert!(resp.starts_with("HTTP/1.1 200"), "{}", resp.lines().next().unwrap_or(""));
        (Counters::parse(resp.split_once("\r\n\r\n").unwrap().1), took)
    }
}

impl Drop for Roagent {
    fn drop(&mut self) {
        // SAFETY: a signal to our own child, which has not been waited for yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// A slowloris client: a request head one byte every 1.5 s until the server closes the
/// connection. Returns how long the connection lasted.
fn trickle(addr: &str) -> Duration {
    let t = Instant::now();
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let head = b"GET /metrics HTTP/1.1\r\nHost: roagent\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for b in head.iter().cycle() {
        if c.write_all(&[*b]).is_err() {
            break;
        }
        // Waiting for an answer is the 1.5 s pause; an answer or the close ends the client.
        match c.read(&mut [0; 512]) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            _ => break,
        }
        assert!(t.elapsed() < Duration::from_secs(30), "a slow client was never cut off");
    }
    t.elapsed()
}

#[test]
fn slow_clients_neither_hold_the_endpoint_nor_outlast_its_deadline() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let r = Roagent::start("http-slow");

    // One slow client: a scrape alongside answers at once, and the client is cut off by the
    // head deadline, which its trickle does not extend.
    let addr = r.addr.clone();
    let slow = std::thread::spawn(move || trickle(&addr));
    std::thread::sleep(Duration::from_millis(500));
    let (_, took) = r.scrape_within(Duration::from_secs(1));
    let lasted = slow.join().unwrap();
    eprintln!("one slow client: a scrape took {took:?}; the slow client was cut off after {lasted:?}");
    assert!(lasted >= HEAD_DEADLINE - Duration::from_millis(100) && lasted < HEAD_DEADLINE + SLACK, "cut off after {lasted:?}");
    let (m, _) = r.scrape_within(Duration::from_secs(1));
    assert_eq!(m.get(r#"roagent_http_refused_total{reason="head_timeout"}"#), 1);

    // CAP + 4 slow clients at once: scrapes keep answering within 1 s; every slow client is
    // closed, by the cap (oldest first) or by the deadline, and each one is counted.
    let n = CAP + 4;
    let slow: Vec<_> = (0..n)
        .map(|_| {
            let addr = r.addr.clone();
            std::thread::spawn(move || trickle(&addr))
        })
        .collect();
    let mut worst = Duration::ZERO;
    let start = Instant::now();
    while start.elapsed() < HEAD_DEADLINE {
        std::thread::sleep(Duration::from_millis(250));
        let (m, took) = r.scrape_within(Duration::from_secs(1));
        worst = worst.max(took);
        assert!(m.get("roagent_http_connections") <= CAP as u64, "{} connections open", m.get("roagent_http_connections"));
    }
    let lasted: Vec<Duration> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    let longest = lasted.iter().max().unwrap();
    eprintln!("{n} slow clients, cap {CAP}: the slowest of the scrapes took {worst:?}; the last slow client was cut off after {longest:?}");
    assert!(*longest < HEAD_DEADLINE + SLACK, "{lasted:?}");
    let (m, _) = r.scrape_within(Duration::from_secs(1));
    let cap = m.get(r#"roagent_http_refused_total{reason="connection_cap"}"#);
    let timeout = m.get(r#"roagent_http_refused_total{reason="head_timeout"}"#) - 1;
    assert!(cap >= 4, "{cap} connections closed by the cap");
    // Scrapes past the cap close a slow client too, never the other way round.
    assert_eq!(cap + timeout, n as u64, "{cap} closed by the cap, {timeout} by the deadline, of {n} slow clients");
}

/// Sends up to `total` bytes of `chunk` repeated; returns the bytes the connection took
/// before the server closed it.
fn flood(addr: &str, prefix: &[u8], chunk: &[u8], total: usize) -> usize {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut sent = 0;
    if c.write_all(prefix).is_err() {
        return 0;
    }
    while sent < total {
        match c.write(chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    sent
}

#[test]
fn a_head_without_end_is_cut_off_at_its_bound_and_memory_stays_flat() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let r = Roagent::start("http-flood");
    // A first scrape makes the allocations every scrape makes.
    r.scrape_within(Duration::from_secs(1));
    let before = r.rss_kb();

    const TOTAL: usize = 400 << 20;
    let addr = r.addr.clone();
    // 400 MB without a newline.
    let line = std::thread::spawn(move || flood(&addr, b"", &[b'a'; 64 << 10], TOTAL));
    // And one whose headers never end.
    let addr = r.addr.clone();
    let headers = std::thread::spawn(move || flood(&addr, b"GET /metrics HTTP/1.1\r\n", &b"X-More: aaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(2048), TOTAL));
    let mut worst = Duration::ZERO;
    while !(line.is_finished() && headers.is_finished()) {
        let (_, took) = r.scrape_within(Duration::from_secs(1));
        worst = worst.max(took);
        std::thread::sleep(Duration::from_millis(100));
    }
    let (line, headers) = (line.join().unwrap(), headers.join().unwrap());
    let (m, took) = r.scrape_within(Duration::from_secs(1));
    let after = r.rss_kb();
    eprintln!(
        "VmRSS {before} kB before, {after} kB after; the connections took {line} and {headers} bytes of 400 MB; the slowest scrape took {:?}",
        worst.max(took)
    );
    // What the connections took is the server's bounded buffer plus the kernel's socket buffers.
    assert!(line < 16 << 20 && headers < 16 << 20, "the server read on: {line} and {headers} bytes taken");
    assert!(after < before + 4096, "VmRSS grew from {before} kB to {after} kB");
    assert_eq!(m.get(r#"roagent_http_refused_total{reason="head_too_large"}"#), 2);
}

/// The server's bound on a connection's life (`control/src/http.rs`).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

#[test]
fn a_client_that_does_not_read_its_answers_is_cut_off_at_the_connection_lifetime() {
    // Not one at a time: this test mostly waits, and the others need not wait for it.
    let r = Roagent::start("http-reader");
    r.scrape_within(Duration::from_secs(1));
    let before = r.rss_kb();
    // Requests pipelined as fast as the server takes them, no answer ever read: the server's
    // writes stall once the socket buffers are full, and so does its reading.
    let addr = r.addr.clone();
    let reader = std::thread::spawn(move || {
        let t = Instant::now();
        let mut c = TcpStream::connect(&addr).unwrap();
        c.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
        let req = b"GET /metrics HTTP/1.1\r\nHost: roagent\r\n\r\n".repeat(64);
        loop {
            match c.write(&req) {
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break t.elapsed(),
            }
            assert!(t.elapsed() < CONNECTION_LIFETIME + Duration::from_secs(10), "a client that does not read was never cut off");
        }
    });
    let mut worst = Duration::ZERO;
    while !reader.is_finished() {
        std::thread::sleep(Duration::from_millis(500));
        worst = worst.max(r.scrape_within(Duration::from_secs(1)).1);
    }
    let lasted = reader.join().unwrap();
    let (m, _) = r.scrape_within(Duration::from_secs(1));
    let after = r.rss_kb();
    eprintln!("a client that does not read: cut off after {lasted:?}; VmRSS {before} kB before, {after} kB after; the slowest scrape took {worst:?}");
    assert!(lasted >= CONNECTION_LIFETIME - Duration::from_millis(100) && lasted < CONNECTION_LIFETIME + SLACK, "cut off after {lasted:?}");
    assert_eq!(m.get(r#"roagent_http_refused_total{reason="lifetime"}"#), 1);
    assert!(after < before + 4096, "VmRSS grew from {before} kB to {after} kB");
}

/// Raw exchange on one connection: writes `req`, reads until the server closes or `wait` passes.
fn exchange(addr: &str, req: &[u8], wait: Duration) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(wait)).unwrap();
    c.write_all(req).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn only_get_is_answered_and_every_refusal_is_counted() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let r = Roagent::start("http-refusals");
    let a = &r.addr;
    let w = Duration::from_secs(2);
    assert!(exchange(a, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", w).starts_with("HTTP/1.1 405"));
    assert!(exchange(a, b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", w).starts_with("HTTP/1.1 404"));
    assert!(exchange(a, b"NOT HTTP\r\n\r\n", w).starts_with("HTTP/1.1 400"));
    let many: String = (0..40).map(|i| format!("X-{i}: 1\r\n")).collect();
    assert!(exchange(a, format!("GET /metrics HTTP/1.1\r\n{many}\r\n").as_bytes(), w).starts_with("HTTP/1.1 431"));
    // Two requests on one keep-alive connection, then it idles until the head deadline closes it.
    let t = Instant::now();
    let two = exchange(a, b"GET /bindings HTTP/1.1\r\nHost: x\r\n\r\nGET /mobiles HTTP/1.1\r\nHost: x\r\n\r\n", HEAD_DEADLINE + SLACK);
    assert_eq!(two.matches("HTTP/1.1 200").count(), 2, "{two}");
    assert!(t.elapsed() >= HEAD_DEADLINE - Duration::from_millis(100) && t.elapsed() < HEAD_DEADLINE + SLACK, "{:?}", t.elapsed());

    let (m, _) = r.scrape_within(Duration::from_secs(1));
    for (series, v) in [
        (r#"roagent_http_refused_total{reason="method"}"#, 1),
        (r#"roagent_http_refused_total{reason="bad_request"}"#, 1),
        (r#"roagent_http_refused_total{reason="head_too_large"}"#, 1),
        (r#"roagent_http_refused_total{reason="head_timeout"}"#, 0),
        (r#"roagent_http_refused_total{reason="connection_cap"}"#, 0),
        (r#"roagent_http_requests_total{path="other"}"#, 1),
        (r#"roagent_http_requests_total{path="/bindings"}"#, 1),
        (r#"roagent_http_requests_total{path="/mobiles"}"#, 1),
        (r#"roagent_http_requests_total{path="/metrics"}"#, 1),
        ("roagent_http_idle_closed_total", 1),
        ("roagent_http_connections_accepted_total", 6),
        ("roagent_http_connections", 1),
    ] {
        assert_eq!(m.get(series), v, "{series}");
    }
}
