//! Live tests in network namespaces: the MAG topology of `scripts/topology` as a guard that
//! removes it on drop, and processes run inside a namespace as guards that stop them on drop.
//!
//! Drop order matters: a namespace whose processes still run outlives `ip netns del`, so
//! declare the [`Topology`] before the [`NsProcess`]es (locals drop in reverse order).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Why live tests cannot run here (not root, no `ip netns`), or `None` if they can.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    match Command::new("ip").args(["netns", "list"]).stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!("`ip netns list` failed ({s})")),
        Err(e) => Some(format!("cannot run `ip` (iproute2): {e}")),
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/topology")
}

/// The three-namespace MAG topology (`scripts/topology up <prefix>`): `<prefix>-mn2`,
/// `<prefix>-mag`, `<prefix>-lma`. Removed on drop, also when the test panics.
pub struct Topology {
    pub prefix: String,
}

impl Topology {
    /// A prefix unique to this process: `ro<pid><tag>`.
    pub fn unique_prefix(tag: &str) -> String {
        format!("ro{}{tag}", std::process::id())
    }

    pub fn up(prefix: &str) -> Topology {
        // The guard exists before the script runs, so a half-built topology is removed too.
        let t = Topology { prefix: prefix.to_string() };
        let out = Command::new("bash").arg(script()).args(["up", prefix]).output().expect("bash runs scripts/topology");
        assert!(
            out.status.success(),
            "scripts/topology up {prefix} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    pub fn mn2(&self) -> String {
        format!("{}-mn2", self.prefix)
    }
    pub fn mag(&self) -> String {
        format!("{}-mag", self.prefix)
    }
    pub fn lma(&self) -> String {
        format!("{}-lma", self.prefix)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).args(["down", &self.prefix]).stdout(Stdio::null()).status();
    }
}

/// Runs a command to completion inside namespace `ns` (`ip netns exec`).
pub fn exec(ns: &str, program: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip netns exec {ns} {program}`: {e}"))
}

/// A long-running process inside a namespace, its stdout and stderr going to
/// `<dir>/<label>.stdout|.stderr`. Dropping it stops it (SIGTERM, then SIGKILL).
pub struct NsProcess {
    pub label: String,
    child: std::process::Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// How a stopped [`NsProcess`] ended.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl NsProcess {
    /// `ip netns exec <ns> <program> <args>`; `ip` execs the program, so the child's pid is
    /// the program's and signals reach it directly.
    pub fn spawn(ns: &str, label: &str, dir: &Path, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> NsProcess {
        let stdout = dir.join(format!("{label}.stdout"));
        let stderr = dir.join(format!("{label}.stderr"));
        let file = |p: &Path| std::fs::File::create(p).unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()));
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(program.as_ref())
            .args(args)
            .stdin(Stdio::null())
            .stdout(file(&stdout))
            .stderr(file(&stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label} in {ns}: {e}"));
        NsProcess { label: label.to_string(), child, stdout, stderr }
    }

    /// The process id (of the program itself: `ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` (e.g. `libc::SIGHUP`) to the process.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until `needle` appears on the process's stderr. Fails if the process exits first
    /// or `timeout` passes, with what it printed.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if self.stderr_text().contains(needle) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited ({status}) before printing {needle:?}; stderr:\n{}", self.label, self.stderr_text()));
            }
            if start.elapsed() > timeout {
                return Err(format!("{} did not print {needle:?} within {timeout:?}; stderr:\n{}", self.label, self.stderr_text()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process with SIGTERM (SIGKILL after `grace`) and collects its output.
    pub fn stop(mut self, grace: Duration) -> Finished {
        let status = self.terminate(grace).unwrap_or_else(|| panic!("cannot reap {}", self.label));
        Finished {
            status,
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }

    /// `None` only if the child cannot be waited for (never panics: it runs in drop).
    fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(s)) = self.child.try_wait() {
            return Some(s);
        }
        // SAFETY: kill has no memory preconditions; the pid is our unreaped child, so it
        // cannot have been reused.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for NsProcess {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(2));
    }
}

/// `GET path` from `addr` as seen from inside namespace `ns` (the socket is created there),
/// e.g. roagent's `/metrics` on the MAG namespace's loopback. The body, or what failed.
pub fn http_get(ns: &str, addr: &str, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let to = addr.to_string();
    let mut c = in_netns(ns, move || std::net::TcpStream::connect(to)).map_err(|e| format!("{addr} in {ns}: {e}"))?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(c, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut resp = String::new();
    c.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let (head, body) = resp.split_once("\r\n\r\n").ok_or("not HTTP")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or("").to_string());
    }
    Ok(body.to_string())
}

/// `ping -6` from namespace `ns` to `dst`, `count` echoes 0.3 s apart, each waited for 2 s:
/// whether it succeeded, and what it printed. Bounded by -c and -W (no -w: with a deadline,
/// ping waits all of it for lost replies).
pub fn ping(ns: &str, dst: &str, count: u32) -> (bool, String) {
    let c = count.to_string();
    let out = exec(ns, "ping", &["-6", "-n", "-c", &c, "-i", "0.3", "-W", "2", dst]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `ping -6` from namespace `ns` to `dst` started in the background: `count` echoes 0.5 s
/// apart, each waited for 3 s, stdout and stderr piped (for a test that answers the echoes
/// itself while it runs).
pub fn spawn_ping(ns: &str, dst: &str, count: u32) -> std::process::Child {
    spawn_ping_every(ns, dst, count, "0.5")
}

/// As [`spawn_ping`], the echoes `interval` seconds apart (ping's `-i`, e.g. `"0.2"`).
pub fn spawn_ping_every(ns: &str, dst: &str, count: u32, interval: &str) -> std::process::Child {
    Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-6", "-n", "-c", &count.to_string(), "-i", interval, "-W", "3", dst])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ping in {ns}: {e}"))
}

/// Runs `f` on a short-lived thread inside network namespace `ns` and returns what it
/// returns: a socket `f` creates stays in that namespace, usable from any thread.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    use std::os::fd::AsRawFd;
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let nsf = std::fs::File::open(&path)?;
        // SAFETY: setns on this thread only (CLONE_NEWNET), with a valid namespace fd.
        if unsafe { libc::setns(nsf.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        f()
    })
    .join()
    .expect("namespace thread")
}

/// A raw IPv6 socket for next header `proto` in namespace `ns` (the kernel adds and strips
/// the IPv6 header).
pub fn raw_ipv6_socket(ns: &str, proto: libc::c_int) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    in_netns(ns, move || {
        // SAFETY: plain socket creation; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
    })
}
