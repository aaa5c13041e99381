//! The binary refuses bad configuration and arguments at start with one line that names the
//! field and the problem, and exits 2.

use e2e::run::{roagent_bin, Scratch};
use std::process::Command;

const GOOD: &str = r#"
[ports.access]
device = "net_null0"
[ports.core]
device = "net_null1"
[mag]
proxy_coa = "2001:db8:c0::1"
signaling = "static"
[[lma]]
address = "2001:db8:c0::2"
[[node]]
name = "mn2"
prefixes = ["2001:db8:3::/64"]
[metrics]
address = "127.0.0.1:0"
"#;

fn roagent(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(roagent_bin()).args(args).output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

fn check(text: &str) -> (i32, String, String) {
    let s = Scratch::new("cli");
    let p = s.0.join("c.toml");
    std::fs::write(&p, text).unwrap();
    roagent(&["check-config", p.to_str().unwrap()])
}

#[test]
fn good_config_is_accepted() {
    let (code, out, err) = check(GOOD);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok (1 LMA(s), 1 attached node(s), Tunnel mode)"), "{out}");
}

#[test]
fn bad_config_is_refused_with_one_line_naming_the_field() {
    for (text, expect) in [
        (GOOD.replace("2001:db8:c0::2", "ff02::2"), "lma[0].address: ff02::2 is not a global unicast address"),
        (GOOD.replace("[mag]", "[mag]\nmode = \"bridged\""), "unknown variant `bridged`"),
        (GOOD.replace("/64", "/64\", \"2001:db8:3::/64"), "node[0].prefixes[1]: is already used by another node"),
        (GOOD.replace("proxy_coa = \"2001:db8:c0::1\"", "proxy_coa = \"not-an-address\""), "invalid IPv6 address syntax"),
        (GOOD.replace("[metrics]", "[metrics]\nmax_connections = 0"), "metrics.max_connections: 0 is outside 1..=512"),
        (format!("{GOOD}[mempool]\nmbufs = 100\n"), "mempool.mbufs: 100 is outside 1023..=16777215"),
        ("this is not toml".to_string(), "c.toml:1:"),
    ] {
        let (code, _, err) = check(&text);
        assert_eq!(code, 2, "{expect}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("roagent: config error: "), "{err}");
        assert!(err.contains(expect), "{err:?} should contain {expect:?}");
    }
}

/// The product build has no bench knobs: `[bench]` is an unknown field like any other and
/// `bench-packets` an unknown subcommand (both exist only with the `bench` feature).
#[test]
fn the_product_has_no_bench_knobs() {
    let (code, _, err) = check(&format!("{GOOD}[bench]\npreload_bindings = 1024\n"));
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    assert!(err.starts_with("roagent: config error: ") && err.contains("unknown field `bench`"), "{err}");

    let (code, _, err) = roagent(&["bench-packets", "--mix", "up-bind", "--mac", "02:00:00:00:00:01", "--out", "/dev/null"]);
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    assert!(err.contains("bench-packets"), "{err}");
}

#[test]
fn missing_file_and_bad_arguments_are_one_line() {
    let (code, _, err) = roagent(&["check-config", "/nonexistent/roagent.toml"]);
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    assert!(err.contains("/nonexistent/roagent.toml: cannot read"), "{err}");

    let (code, _, err) = roagent(&["run", "--config", "x.toml", "--duration", "soon"]);
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    assert!(err.contains("--duration"), "{err}");

    let s = Scratch::new("cli");
    let p = s.0.join("c.toml");
    std::fs::write(&p, GOOD).unwrap();
    let (code, _, err) = roagent(&["run", "--config", p.to_str().unwrap(), "--duration", "-1"]);
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    assert!(err.contains("--duration: -1 is not a positive number of seconds"), "{err}");

    let (code, _, err) = roagent(&["frobnicate"]);
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
}

#[test]
fn a_device_dpdk_cannot_open_is_named() {
    // Passes validation, fails in the EAL: the error still names the field.
    let s = Scratch::new("cli");
    let p = s.0.join("c.toml");
    let text = format!(
        "[eal]\nargs = {}\n{}",
        e2e::run::eal_args(&format!("ro{}cli", std::process::id())),
        GOOD.replace("net_null1", "net_pcap1,rx_pcap=/nonexistent.pcap,tx_pcap=/tmp/x.pcap")
    );
    std::fs::write(&p, text).unwrap();
    let (code, _, err) = roagent(&["run", "--config", p.to_str().unwrap(), "--duration", "1"]);
    assert_eq!(code, 1, "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("roagent: ports.core.device: net_pcap1 was not probed"), "{err}");
}

#[test]
fn a_closed_stdout_neither_kills_nor_hangs_the_dataplane() {
    // A reader of the counters that goes away (`roagent run ... | head -1`) used to make
    // the final report panic, and the unwinding EAL cleanup then waited forever on the
    // still-running worker.
    let s = Scratch::new("cli");
    let p = s.0.join("c.toml");
    std::fs::write(&p, format!("[eal]\nargs = {}\n{GOOD}", e2e::run::eal_args(&format!("ro{}pipe", std::process::id())))).unwrap();
    let mut child = Command::new(roagent_bin())
        .args(["run", "--config", p.to_str().unwrap(), "--duration", "1", "--stats-period", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("roagent did not exit within 30 s of a 1 s run with stdout closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn exported_metrics_pass_promtool_and_cover_the_grafana_dashboard() {
    // The final report is the /metrics text: check it, and that every metric the shipped
    // dashboard queries is one roagent exports (so the dashboard cannot rot).
    let s = Scratch::new("cli");
    let p = s.0.join("c.toml");
    std::fs::write(&p, format!("[eal]\nargs = {}\n{GOOD}", e2e::run::eal_args(&format!("ro{}metrics", std::process::id())))).unwrap();
    let (code, out, err) = roagent(&["run", "--config", p.to_str().unwrap(), "--duration", "1"]);
    assert_eq!(code, 0, "{err}");
    let text: String = out.lines().filter(|l| l.starts_with('#') || l.starts_with("roagent_")).map(|l| format!("{l}\n")).collect();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/setup-host installs the prometheus package)");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let o = promtool.wait_with_output().unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));

    let exported: std::collections::HashSet<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).filter_map(|l| l.split_whitespace().nth(2)).collect();
    let dashboard = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/grafana-dashboard.json")).unwrap();
    let mut queried = 0;
    for (i, _) in dashboard.match_indices("roagent_") {
        let name: String = dashboard[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        assert!(exported.contains(name.as_str()), "the dashboard queries {name}, which roagent does not export");
        queried += 1;
    }
    assert!(queried > 10);
}
