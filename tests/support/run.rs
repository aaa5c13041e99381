//! Runs the real `roagent` binary on `net_pcap` virtual devices: frames in from pcap files,
//! frames out into pcap files, final counters from its standard output.

use crate::pcap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// MACs the `net_pcap` driver gives its ports: 02:70:63:61:70:<port id> ("\x02pcap").
pub const ACCESS_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];
pub const CORE_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x01];

/// The binary under test: `$ROAGENT_BIN`, else `target/<profile>/roagent` next to the tests.
pub fn roagent_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ROAGENT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/roagent
    let p = exe.parent().and_then(Path::parent).unwrap().join("roagent");
    assert!(p.exists(), "{} is missing: build it first (cargo build -p control), or set ROAGENT_BIN", p.display());
    p
}

/// The bench-enabled build (`--features bench`, which the tests that need a `[bench]` knob
/// run): `$ROAGENT_BENCH_BIN`, else `target/bench/<profile>/roagent`, where scripts/test and
/// scripts/bench build it.
pub fn roagent_bench_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ROAGENT_BENCH_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/bench/<profile>/roagent
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let p = profile.parent().unwrap().join("bench").join(profile.file_name().unwrap()).join("roagent");
    assert!(
        p.exists(),
        "{} is missing: build it first (cargo build -p control --features bench --target-dir target/bench), or set ROAGENT_BENCH_BIN",
        p.display()
    );
    p
}

/// A scratch directory removed on drop unless the test failed or `E2E_KEEP` is set (kept
/// for inspection).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!("roagent-{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() && std::env::var_os("E2E_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The metrics roagent printed at exit (Prometheus text format).
#[derive(Debug, Default)]
pub struct Counters(pub Vec<(String, BTreeMap<String, String>, f64)>);

/// `name{a="x",b="y"}` → (name, labels).
fn series(key: &str) -> (String, BTreeMap<String, String>) {
    let Some((name, rest)) = key.split_once('{') else { return (key.trim().to_string(), BTreeMap::new()) };
    let labels = rest
        .trim_end_matches('}')
        .split("\",")
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim_matches(',').to_string(), v.trim_matches('"').to_string()))
        })
        .collect();
    (name.to_string(), labels)
}

impl Counters {
    pub fn parse(stdout: &str) -> Counters {
        Counters(
            stdout
                .lines()
                .filter(|l| l.starts_with("roagent_"))
                .filter_map(|l| {
                    let (k, v) = l.rsplit_once(' ')?;
                    let (name, labels) = series(k);
                    Some((name, labels, v.parse().ok()?))
                })
                .collect(),
        )
    }

    /// The sum of every series named like `key` whose labels include `key`'s labels
    /// (`roagent_dropped_packets_total{port="core"}` sums all reasons and queues); 0 if none.
    pub fn get(&self, key: &str) -> u64 {
        let (name, want) = series(key);
        self.0.iter().filter(|(n, l, _)| *n == name && want.iter().all(|(k, v)| l.get(k) == Some(v))).map(|(_, _, v)| *v).sum::<f64>() as u64
    }

    pub fn drop(&self, port: &str, reason: &str) -> u64 {
        self.get(&format!("roagent_dropped_packets_total{{port=\"{port}\",reason=\"{reason}\"}}"))
    }

    /// Sum of every drop counter.
    pub fn drops_total(&self) -> u64 {
        self.get("roagent_dropped_packets_total")
    }

    /// Whether any series of this name was printed.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _, _)| n == name)
    }

    /// Whether a series named like `key` with at least `key`'s labels was printed
    /// (`roagent_punted_packets_total{reason="mobility"}`): a label value only some builds have.
    pub fn has_series(&self, key: &str) -> bool {
        let (name, want) = series(key);
        self.0.iter().any(|(n, l, _)| *n == name && want.iter().all(|(k, v)| l.get(k) == Some(v)))
    }
}

pub struct PcapRun {
    pub access_out: Vec<Vec<u8>>,
    pub core_out: Vec<Vec<u8>>,
    pub counters: Counters,
    pub output: Output,
    pub scratch: Scratch,
}

impl PcapRun {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// EAL arguments for a test process: two lcores, no hugepages, a private file prefix.
/// VmRSS of process `pid`, in kB (kiB, as /proc says); `None` once it is gone or a zombie.
pub fn vm_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

pub fn eal_args(prefix: &str) -> String {
    format!(
        r#"["-l", "0-1", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix", "{prefix}", "--log-level", "lib.eal:warning", "--log-level", "pmd.net.pcap:warning"]"#
    )
}

/// The `body` most `net_pcap` tests run: static mode, MN2 (2001:db8:3::/64, MAC
/// 02:00:00:00:03:00) on the access port, LMA 2001:db8:c0::2 (MAC 02:00:00:00:0c:02) on the
/// core port, the MAG's Proxy-CoA 2001:db8:c0::1.
pub const STATIC_MN2: &str = r#"
[mag]
proxy_coa = "2001:db8:c0::1"
signaling = "static"
access_link_local = "fe80::1"
[[lma]]
address = "2001:db8:c0::2"
mac = "02:00:00:00:0c:02"
[[node]]
name = "mn2"
prefixes = ["2001:db8:3::/64"]
mac = "02:00:00:00:03:00"
"#;

/// Runs roagent with `body` (the TOML after `[eal]` and `[ports]`) for `seconds`, feeding
/// `access_in` and `core_in` to the two ports.
pub fn run_pcap(name: &str, body: &str, access_in: &[Vec<u8>], core_in: &[Vec<u8>], seconds: f64) -> PcapRun {
    run_pcap_env(name, body, access_in, core_in, seconds, &[])
}

/// As [`run_pcap`], with extra environment variables for the binary.
pub fn run_pcap_env(name: &str, body: &str, access_in: &[Vec<u8>], core_in: &[Vec<u8>], seconds: f64, env: &[(&str, &str)]) -> PcapRun {
    run_pcap_bin(&roagent_bin(), name, body, access_in, core_in, seconds, env)
}

/// As [`run_pcap_env`], running `bin` (e.g. [`roagent_bench_bin`]).
pub fn run_pcap_bin(bin: &Path, name: &str, body: &str, access_in: &[Vec<u8>], core_in: &[Vec<u8>], seconds: f64, env: &[(&str, &str)]) -> PcapRun {
    let scratch = Scratch::new(name);
    let d = &scratch.0;
    pcap::write(&d.join("access_in.pcap"), access_in).unwrap();
    pcap::write(&d.join("core_in.pcap"), core_in).unwrap();
    let cfg = format!(
        "[eal]\nargs = {}\n[metrics]\naddress = \"127.0.0.1:0\"\n[ports.access]\ndevice = \"net_pcap0,rx_pcap={dir}/access_in.pcap,tx_pcap={dir}/access_out.pcap\"\n[ports.core]\ndevice = \"net_pcap1,rx_pcap={dir}/core_in.pcap,tx_pcap={dir}/core_out.pcap\"\n{body}",
        eal_args(&format!("ro{}{name}", std::process::id())),
        dir = d.display()
    );
    std::fs::write(d.join("roagent.toml"), &cfg).unwrap();
    let output = Command::new(bin)
        .args(["run", "--config"])
        .arg(d.join("roagent.toml"))
        .args(["--duration", &seconds.to_string()])
        .envs(env.iter().copied())
        .output()
        .expect("roagent runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "roagent failed: {}\n{stdout}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    PcapRun {
        access_out: pcap::read(&d.join("access_out.pcap")).unwrap(),
        core_out: pcap::read(&d.join("core_out.pcap")).unwrap(),
        counters: Counters::parse(&stdout),
        output,
        scratch,
    }
}

/// Problems tshark reports in a pcap: malformed packets and bad checksums (with UDP
/// checksum validation on). Empty when all is well.
pub fn tshark_problems(path: &Path) -> Vec<String> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-V"])
        .output()
        .expect("tshark is installed (scripts/setup-host)");
    assert!(out.status.success(), "tshark failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("Malformed") || l.contains("[Checksum Status: Bad]") || l.contains("Expert Info (Error"))
        .map(|l| l.trim().to_string())
        .collect()
}
