//! The PMIPv6 codec (`wire::pmip`) checked against an independent decoder: a PBU from a
//! Proxy-CoA to an LMA and the PBA back, with every option, inside Ethernet/IPv6 with valid
//! checksums, written to a pcap; tshark must decode them with no malformed or expert-error
//! mark and show every field with the value emitted.

use std::net::Ipv6Addr;
use std::process::Command;
use std::time::Duration;

use e2e::packets::{a, ip6, ipv6_frame};
use e2e::run::{tshark_problems, Scratch, CORE_MAC};
use wire::mobility;
use wire::pmip::{access_technology, handoff, timestamp_from_unix, PmipOptions, ProxyBindingAck, ProxyBindingUpdate};

const LMA_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0c, 0x02];
const MN2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x00];
/// 2023-11-14 22:13:20.5 UTC.
const WHEN: Duration = Duration::from_millis(1_700_000_000_500);

fn proxy_coa() -> Ipv6Addr {
    a("2001:db8:c0::1")
}
fn lma() -> Ipv6Addr {
    a("2001:db8:c0::2")
}

fn options(prefix: (Ipv6Addr, u8)) -> PmipOptions {
    PmipOptions {
        mn_id: Some(b"mn2@roagent.test".to_vec()),
        home_network_prefixes: vec![prefix],
        handoff_indicator: Some(handoff::NEW_ATTACHMENT),
        access_technology: Some(access_technology::IEEE_802_3),
        mn_link_layer_id: Some(MN2_MAC.to_vec()),
        link_local_address: Some(a("fe80::1")),
        timestamp: Some(timestamp_from_unix(WHEN)),
    }
}

/// The Mobility Header in an IPv6 packet with its checksum filled, in an Ethernet frame.
fn frame(src: Ipv6Addr, dst: Ipv6Addr, dst_mac: [u8; 6], src_mac: [u8; 6], mut mh: Vec<u8>) -> Vec<u8> {
    mobility::fill_checksum(&mut mh, &src, &dst).unwrap();
    ipv6_frame(dst_mac, src_mac, &ip6(src, dst, mobility::NEXT_HEADER, 64, &mh))
}

fn have_tshark() -> bool {
    let ok = Command::new("tshark").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped: tshark is not installed (scripts/setup-host installs it)");
    }
    ok
}

/// tshark's `-T fields` output for `fields`, one Vec per frame.
fn tshark_fields(path: &std::path::Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.env("TZ", "UTC").args(["-n", "-r"]).arg(path).args(["-T", "fields", "-E", "separator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('|').map(str::to_string).collect()).collect()
}

fn pbu() -> ProxyBindingUpdate {
    ProxyBindingUpdate {
        seq: 4242,
        ack: true,
        home_reg: true,
        link_local_compat: false,
        proxy_reg: true,
        lifetime_units: 225,
        options: options((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

fn pba() -> ProxyBindingAck {
    ProxyBindingAck { status: 0, proxy_reg: true, seq: 4242, lifetime_units: 150, options: options((a("2001:db8:20:1::"), 64)), ..Default::default() }
}

fn write_pcap(s: &Scratch, pbu_mh: Vec<u8>, pba_mh: Vec<u8>) -> std::path::PathBuf {
    let path = s.0.join("pmip.pcap");
    let frames = [frame(proxy_coa(), lma(), LMA_MAC, CORE_MAC, pbu_mh), frame(lma(), proxy_coa(), CORE_MAC, LMA_MAC, pba_mh)];
    e2e::pcap::write(&path, &frames).unwrap();
    path
}

#[test]
fn tshark_decodes_pbu_and_pba_cleanly() {
    if !have_tshark() {
        return;
    }
    let s = Scratch::new("pmip-codec");
    let path = write_pcap(&s, pbu().to_bytes(), pba().to_bytes());
    // The checksums tshark does not check: verify them on what went into the file.
    let frames = e2e::pcap::read(&path).unwrap();
    for (f, (src, dst)) in frames.iter().zip([(proxy_coa(), lma()), (lma(), proxy_coa())]) {
        assert!(mobility::verify_checksum(&src, &dst, &f[14 + 40..]));
    }
    let v = Command::new("tshark").env("TZ", "UTC").args(["-n", "-r"]).arg(&path).arg("-V").output().unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(text.contains("Mobile Node Link-layer Identifier") && text.contains("Home Network Prefix: 2001:db8:20:1::/64"), "{text}");
    let problems = tshark_problems(&path);
    assert!(problems.is_empty(), "tshark: {problems:?}");
}

const FIELDS: &[&str] = &[
    "mip6.mhtype",
    "mip6.bu.seqnr",
    "mip6.bu.a_flag",
    "mip6.bu.h_flag",
    "mip6.bu.p_flag",
    "mip6.bu.lifetime",
    "mip6.ba.status",
    "mip6.ba.p_flag",
    "mip6.ba.seqnr",
    "mip6.ba.lifetime",
    "mip6.mnid.subtype",
    "mip6.mnid.identifier",
    // Wireshark decodes the Home Network Prefix option with the NEMO prefix fields.
    "mip6.nemo.mnp.mnp",
    "mip6.nemo.mnp.pfl",
    "mip6.hi",
    "mip6.att",
    "mip6.mnlli.lli",
    "mip6.lila_lla",
    "mip6.timestamp_tmp",
];

#[test]
fn tshark_shows_every_field_emitted() {
    if !have_tshark() {
        return;
    }
    let s = Scratch::new("pmip-fields");
    let path = write_pcap(&s, pbu().to_bytes(), pba().to_bytes());
    let rows = tshark_fields(&path, FIELDS);
    let shared = ["1", "mn2@roagent.test"];
    let tail = ["1", "3", "020000000300", "fe80::1", "Nov 14, 2023 22:13:20.500000000 UTC"];
    let pbu_row: Vec<&str> = ["5", "4242", "1", "1", "1", "225", "", "", "", ""].into_iter().chain(shared).chain(["::", "0"]).chain(tail).collect();
    let pba_row: Vec<&str> =
        ["6", "", "", "", "", "", "0", "1", "4242", "150"].into_iter().chain(shared).chain(["2001:db8:20:1::", "64"]).chain(tail).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, want) in rows.iter().zip([pbu_row, pba_row]) {
        for ((field, got), want) in FIELDS.iter().zip(row).zip(want) {
            assert_eq!(got, want, "{field}");
        }
    }
}

/// The clean-decode check can fail: a Home Network Prefix option one byte short is flagged.
#[test]
fn tshark_flags_a_broken_option() {
    if !have_tshark() {
        return;
    }
    let s = Scratch::new("pmip-broken");
    let mut bad = pbu().to_bytes();
    let hnp = bad.iter().position(|&b| b == 22).unwrap();
    assert_eq!(bad[hnp + 1], 18);
    bad[hnp + 1] = 17;
    let path = write_pcap(&s, bad, pba().to_bytes());
    assert!(!tshark_problems(&path).is_empty());
}
