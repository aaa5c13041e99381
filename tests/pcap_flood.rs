//! The worker's punt policer end to end on `net_pcap` (issue 11, the signaling and
//! hop-limit floods): a pcap read as fast as the driver can is a flood far above any
//! budget. Down the tunnel, HoTIs from 10,000 spoofed sources interleaved with 10,000 data
//! packets for MN2; up from MN2, packets with hop limit 1 interleaved with ordinary ones.
//! The worker hands the control core one burst of each budget and drops the rest itself,
//! counted by reason; every data packet is forwarded; the control core answers within its
//! own rate limits. With the budget off (`[punt]` rates 0) every flood packet goes to the
//! punt ring, so the same counters tell the two apart (the control case).

use e2e::mn1::Mn1;
use e2e::packets::*;
use e2e::run::{run_pcap, Counters, ACCESS_MAC, CORE_MAC, STATIC_MN2};
use std::net::Ipv6Addr;

const MN2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x00];
const LMA_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0c, 0x02];
const N: usize = 10_000;

fn mn2() -> Ipv6Addr {
    a("2001:db8:3::300")
}

fn spoofed(i: usize) -> Ipv6Addr {
    Ipv6Addr::from((0x2001_0db8_0066_0000u128 << 64) | (i as u128 + 1))
}

/// 2N frames down the tunnel: data and spoofed HoTIs in turn.
fn downlink() -> Vec<Vec<u8>> {
    let (lma, coa) = (a("2001:db8:c0::2"), a("2001:db8:c0::1"));
    (0..N)
        .flat_map(|i| {
            let data = udp_packet(a("2001:db8:9::1"), mn2(), 64, 1000, 2000, &(i as u32).to_be_bytes());
            let hoti = Mn1::new(spoofed(i), spoofed(i), mn2()).hoti();
            [ipv6_frame(CORE_MAC, LMA_MAC, &tunneled(lma, coa, &data)), ipv6_frame(CORE_MAC, LMA_MAC, &tunneled(lma, coa, &hoti))]
        })
        .collect()
}

/// 2N frames from MN2: ordinary uplink and hop limit 1 in turn.
fn uplink() -> Vec<Vec<u8>> {
    (0..N)
        .flat_map(|i| {
            let port = (i as u32).to_be_bytes();
            [
                ipv6_frame(ACCESS_MAC, MN2_MAC, &udp_packet(mn2(), a("2001:db8:9::1"), 64, 1000, 2000, &port)),
                ipv6_frame(ACCESS_MAC, MN2_MAC, &udp_packet(mn2(), a("2001:db8:9::1"), 1, 1000, 2000, &port)),
            ]
        })
        .collect()
}

fn run(name: &str, punt: &str) -> Counters {
    let r = run_pcap(name, &format!("{STATIC_MN2}[reflector]\nmax_bindings = 1024\n{punt}"), &uplink(), &downlink(), 2.0);
    let c = r.counters;
    // Every data packet made it: N decapsulated to MN2, N encapsulated to the LMA.
    assert_eq!(c.get("roagent_tunnel_decapsulations_total"), 2 * N as u64, "{name}: every downlink frame is decapsulated first");
    assert_eq!(c.get("roagent_tunnel_encapsulations_total"), N as u64, "{name}: every ordinary uplink packet tunnelled");
    let to_mn2 = r.access_out.iter().filter(|f| f.len() > 54 && f[20] == wire::ipv6::proto::UDP).count();
    assert_eq!(to_mn2, N, "{name}: every data packet delivered to MN2");
    c
}

#[test]
fn a_flood_beyond_the_punt_budget_is_dropped_on_the_worker_and_data_still_flows() {
    let c = run("flood", "[punt]\nsignaling_per_sec = 100\nerrors_per_sec = 100\n");
    // Per flood: its punt reason, the port it came in on, and the answers it draws.
    for (reason, port, answers) in [
        ("mobility", "core", r#"roagent_signaling_sent_total{type="home_test"}"#),
        ("hop_limit", "access", r#"roagent_icmpv6_errors_sent_total{type="time_exceeded"}"#),
    ] {
        let punted = c.get(&format!("roagent_punted_packets_total{{reason=\"{reason}\"}}"));
        let policed = c.get(&format!("roagent_punts_policed_total{{reason=\"{reason}\"}}"));
        eprintln!("{reason}: punted {punted}, policed {policed}");
        // The burst (32) plus at most 2 s at 100/s reach the control core; the rest never does.
        assert!((32..=32 + 200).contains(&punted), "{reason}: punted {punted}");
        assert_eq!(punted + policed, N as u64, "{reason}");
        assert_eq!(c.drop(port, "punt_policed"), policed, "{reason}");
        let answered = c.get(answers);
        assert!(answered > 0 && answered <= punted, "{reason}: {answered} answers for {punted} punted");
    }
}

#[test]
fn with_the_punt_budget_off_every_flood_packet_goes_to_the_control_core() {
    let c = run("flood-off", "[punt]\nsignaling_per_sec = 0\nerrors_per_sec = 0\n");
    for reason in ["mobility", "hop_limit"] {
        assert_eq!(c.get(&format!("roagent_punted_packets_total{{reason=\"{reason}\"}}")), N as u64, "{reason}");
        assert_eq!(c.get(&format!("roagent_punts_policed_total{{reason=\"{reason}\"}}")), 0, "{reason}");
    }
    // Still answered within the control core's own limits (ICMPv6: 100/s, burst 100).
    let te = c.get(r#"roagent_icmpv6_errors_sent_total{type="time_exceeded"}"#);
    assert!(te <= 100 + 200, "Time Exceeded {te}");
    assert!(c.get(r#"roagent_rate_limited_total{kind="icmpv6"}"#) > 0);
}
