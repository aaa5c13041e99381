//! End to end on `net_pcap`: the Route Optimization Agent answers MN1's signaling for an
//! attached node exactly as an RFC 6275 correspondent node (HoTI→HoT, CoTI→CoT, BU→BA), and
//! its error answers (Binding Error 1 and 2, Parameter Problem); a node with the agent off
//! gets the signaling itself. Kcn and nonces are fixed by ROAGENT_INSECURE_TEST_ENTROPY so
//! the test can compute the tokens and sign the Binding Update before the run.

use e2e::mn1::Mn1;
use e2e::packets::*;
use e2e::run::{roagent_bench_bin, run_pcap_bin, run_pcap_env, tshark_problems, ACCESS_MAC, CORE_MAC, STATIC_MN2};
use reflector::{Action, Inbound, Reflector, Reply, TestEntropy};
use std::net::Ipv6Addr;
use std::time::Duration;
use wire::mobility::{self, ba_status, BindingError, CareOfTest, HomeTest};
use wire::{ext, icmpv6, ipv6, tunnel};

const SEED: u64 = 4242;
const MN2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x00];
const MN3_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x00];
const LMA_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0c, 0x02];

/// `run::STATIC_MN2` and MN3, a node the agent does not answer for.
fn config() -> String {
    format!("{STATIC_MN2}{MN3}")
}

const MN3: &str = r#"[[node]]
name = "mn3"
prefixes = ["2001:db8:4::/64"]
mac = "02:00:00:00:04:00"
agent = false
[reflector]
max_bindings = 1024
"#;

fn coa_mag() -> Ipv6Addr {
    a("2001:db8:c0::1")
}
fn lma() -> Ipv6Addr {
    a("2001:db8:c0::2")
}

/// What the LMA sends down the tunnel for MN1.
fn down(inner: &[u8]) -> Vec<u8> {
    ipv6_frame(CORE_MAC, LMA_MAC, &tunneled(lma(), coa_mag(), inner))
}

/// The tokens the binary's reflector will hand out: the same reflector, the same seed.
fn predict_tokens(mn1: &mut Mn1) {
    let mut rng = TestEntropy::new(SEED);
    let mut r = Reflector::new(reflector::Config::default(), Duration::ZERO, &mut rng);
    for pkt in [mn1.hoti(), mn1.coti()] {
        let h = ipv6::Header::new_checked(&pkt[..]).unwrap();
        let inb = Inbound { src: h.src_addr(), dst: h.dst_addr(), home_address: None, ipv6_packet: &pkt, mh_offset: 40 };
        let mut out = vec![];
        r.on_mobility(Duration::ZERO, &inb, &mut out);
        let [Action::Send(Reply::Mobility { mh, mh_type, .. })] = &out[..] else { panic!("{out:?}") };
        match *mh_type {
            mobility::mh_type::HOME_TEST => {
                let t = HomeTest::parse(mh).unwrap();
                mn1.home_token = Some((t.nonce_index, t.token));
            }
            _ => {
                let t = CareOfTest::parse(mh).unwrap();
                mn1.care_of_token = Some((t.nonce_index, t.token));
            }
        }
    }
}

/// Inner IPv6 packets that came up the tunnel, checked: outer Proxy-CoA → LMA.
fn tunneled_out(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    frames
        .iter()
        .map(|f| {
            let ip = &f[14..];
            let d = tunnel::decapsulate(ip).unwrap_or_else(|e| panic!("not a tunnel packet: {e}: {f:02x?}"));
            assert_eq!((d.outer_src, d.outer_dst), (coa_mag(), lma()));
            assert_eq!(&f[..6], &LMA_MAC);
            ip[d.inner_offset..d.inner_offset + d.inner_len].to_vec()
        })
        .collect()
}

fn mh_type_of(ip: &[u8]) -> Option<u8> {
    let ch = ext::walk(ip).ok()?;
    (ch.upper_proto == ipv6::proto::MOBILITY).then(|| ip[ch.upper_offset + 2])
}

#[test]
fn agent_answers_return_routability_and_binding_update() {
    let (home, care_of, mn2) = (a("2001:db8:1::100"), a("2001:db8:2::200"), a("2001:db8:3::300"));
    let mut mn1 = Mn1::new(home, care_of, mn2);
    predict_tokens(&mut mn1);

    // Unknown MH type 9 and a HoTI whose Payload Proto is not 59 (RFC 6275 §9.2).
    let mut unknown = vec![59, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    mobility::fill_checksum(&mut unknown, &care_of, &mn2).unwrap();
    let mut bad_proto = mn1.hoti();
    bad_proto[40] = 6;
    let mh_len = bad_proto.len() - 40;
    mobility::fill_checksum(&mut bad_proto[40..40 + mh_len], &home, &mn2).unwrap();
    let mn3_mn1 = Mn1::new(home, care_of, a("2001:db8:4::400"));

    let core_in = vec![
        down(&mn1.hoti()),
        down(&mn1.coti()),
        down(&ip6(care_of, mn2, ipv6::proto::MOBILITY, 64, &unknown)),
        down(&bad_proto),
        // Route-optimized data before any binding: dropped, Binding Error 1 (§9.3.1).
        down(&mn1.udp_with_hao(7, 9, b"too early")),
        down(&mn1.bu(0x10, 100, true)),
        // The agent is off for mn3: its signaling reaches it untouched.
        down(&mn3_mn1.hoti()),
    ];
    let r = run_pcap_env("agent", &config(), &[], &core_in, 2.0, &[("ROAGENT_INSECURE_TEST_ENTROPY", &SEED.to_string())]);
    let err = r.stderr();
    let c = &r.counters;
    let up = tunneled_out(&r.core_out);
    let by_type = |t: u8| up.iter().filter(|p| mh_type_of(p) == Some(t)).cloned().collect::<Vec<_>>();

    // HoT to the home address, CoT to the care-of address, with the tokens predicted.
    let hot = by_type(mobility::mh_type::HOME_TEST);
    assert_eq!(hot.len(), 1, "{err}");
    let mut check = Mn1::new(home, care_of, mn2);
    check.take_hot(&hot[0]).unwrap();
    assert_eq!(check.home_token, mn1.home_token);
    let cot = by_type(mobility::mh_type::CARE_OF_TEST);
    assert_eq!(cot.len(), 1, "{err}");
    check.take_cot(&cot[0]).unwrap();
    assert_eq!(check.care_of_token, mn1.care_of_token);
    for p in hot.iter().chain(&cot) {
        assert!(ext::walk(p).unwrap().routing.is_none(), "no RH2 on HoT/CoT (RFC 6275 §9.4)");
    }

    // BA: status 0, to the care-of address, RH2 with the home address, authenticator right.
    let ba = by_type(mobility::mh_type::BINDING_ACK);
    assert_eq!(ba.len(), 1, "{err}");
    let ba = mn1.take_ba(&ba[0]).unwrap();
    assert_eq!((ba.status, ba.seq, ba.lifetime_units, ba.with_bad), (ba_status::ACCEPTED, 0x10, 100, true));
    assert!(err.contains("binding created: home 2001:db8:1::100 care-of 2001:db8:2::200 for attached node 2001:db8:3::300"), "{err}");
    assert_eq!(c.get("roagent_bindings"), 1);
    assert_eq!(c.get("roagent_bindings_created_total"), 1);

    // Binding Errors: status 2 for the unknown type, status 1 for the early HAO packet.
    let be: Vec<_> = by_type(mobility::mh_type::BINDING_ERROR)
        .iter()
        .map(|p| {
            let ch = ext::walk(p).unwrap();
            let h = ipv6::Header::new_checked(&p[..]).unwrap();
            assert_eq!((h.src_addr(), h.dst_addr()), (mn2, care_of));
            BindingError::parse(&p[ch.upper_offset..]).unwrap()
        })
        .collect();
    assert_eq!(be.len(), 2, "{err}");
    assert!(be.iter().any(|b| b.status == 2), "{be:?}");
    assert!(be.iter().any(|b| b.status == 1 && b.home == home), "{be:?}");
    assert_eq!(c.get("roagent_binding_errors_sent_total{status=\"1\"}"), 1);
    assert_eq!(c.get("roagent_binding_errors_sent_total{status=\"2\"}"), 1);
    assert_eq!(c.get("roagent_home_address_unverified_total"), 1);

    // Parameter Problem, code 0, pointing at Payload Proto (RFC 6275 §9.2), from MN2.
    let pp: Vec<_> = up.iter().filter(|p| p.get(6) == Some(&ipv6::proto::ICMPV6) && p.get(40) == Some(&icmpv6::PARAM_PROBLEM)).collect();
    assert_eq!(pp.len(), 1, "{err}");
    let h = ipv6::Header::new_checked(&pp[0][..]).unwrap();
    assert_eq!((h.src_addr(), h.dst_addr()), (mn2, home));
    assert_eq!((pp[0][41], u32::from_be_bytes(pp[0][44..48].try_into().unwrap())), (0, 40));

    assert_eq!(up.len(), 6, "HoT, CoT, BE 2, Parameter Problem, BE 1, BA");
    assert_eq!(c.get("roagent_signaling_received_total{type=\"home_test_init\"}"), 2);
    assert_eq!(c.get("roagent_signaling_received_total{type=\"binding_update\"}"), 1);
    assert_eq!(c.get("roagent_punted_packets_total{reason=\"mobility\"}"), 5);

    // mn3 (agent off) got its HoTI as is, hop limit − 1: the node answers for itself.
    assert_eq!(r.access_out.len(), 1, "{err}");
    let mut expect = mn3_mn1.hoti();
    expect[7] -= 1;
    assert_eq!(&r.access_out[0][..6], &MN3_MAC);
    assert_eq!(&r.access_out[0][6..12], &ACCESS_MAC);
    assert_eq!(&r.access_out[0][14..], &expect[..]);
    let _ = MN2_MAC;

    for f in ["access_out.pcap", "core_out.pcap"] {
        let p = tshark_problems(&r.scratch.0.join(f));
        assert!(p.is_empty(), "tshark on {f}: {p:?}");
    }
    assert_eq!(c.get("roagent_mempool_in_use"), 0, "no mbuf leaked");
}

/// With one binding in the fast-path table (the bench knob preloads the production table
/// before the workers start, so the order of packets cannot race the control core; the knob
/// exists only in the bench-enabled build, which runs the same worker and control core):
/// binding 0 is home 2001:db8:1::1, attached 2001:db8:3::1, care-of 2001:db8:2::1.
#[test]
fn rh2_and_hao_rewrites_on_net_pcap() {
    let (home, attached, care_of) = (a("2001:db8:1::1"), a("2001:db8:3::1"), a("2001:db8:2::1"));
    let cfg = config().replace("[reflector]", "[bench]\npreload_bindings = 1\n[reflector]");
    let up = |ip: &[u8]| ipv6_frame(ACCESS_MAC, MN2_MAC, ip);
    let data = udp_packet(attached, home, 64, 5000, 6000, b"route optimized");
    // 1500 (core MTU) − 40 (tunnel) − 24 (RH2) = 1436 bytes fit; this one is 1437.
    let big = udp_packet(attached, home, 64, 5000, 6000, &[7; 1437 - 48]);
    let mn1 = Mn1::new(home, care_of, attached);
    let stranger = Mn1::new(home, a("2001:db8:2::99"), attached);
    let r = run_pcap_bin(
        &roagent_bench_bin(),
        "rh2hao",
        &cfg,
        &[up(&data), up(&big)],
        &[down(&mn1.udp_with_hao(6000, 5000, b"back to MN2")), down(&stranger.udp_with_hao(1, 2, b"spoofed"))],
        2.0,
        &[],
    );
    let err = r.stderr();

    // Uplink: destination := care-of address, RH2 carrying the home address, checksum intact.
    let up_out = tunneled_out(&r.core_out);
    let rh2: Vec<_> = up_out.iter().filter(|p| ext::walk(p).is_ok_and(|c| c.routing.is_some())).collect();
    assert_eq!(rh2.len(), 1, "{err}");
    let h = ipv6::Header::new_checked(&rh2[0][..]).unwrap();
    let ch = ext::walk(rh2[0]).unwrap();
    assert_eq!((h.src_addr(), h.dst_addr(), h.hop_limit()), (attached, care_of, 63));
    assert_eq!(ch.routing.map(|r| (r.routing_type, r.home_address)), Some((2, Some(home))));
    assert!(wire::checksum::verify_upper_layer(&attached, &home, ipv6::proto::UDP, &rh2[0][ch.upper_offset..h.total_len()]));

    // The big one: Packet Too Big to MN2 with the tunnel and RH2 bytes taken off the MTU.
    let ptb: Vec<_> = r.access_out.iter().filter(|f| f.get(14 + 40) == Some(&icmpv6::PACKET_TOO_BIG)).collect();
    assert_eq!(ptb.len(), 1, "{err}");
    assert_eq!(u32::from_be_bytes(ptb[0][14 + 44..14 + 48].try_into().unwrap()), 1436);

    // Downlink from the care-of address with HAO: a plain packet from the home address.
    let plain: Vec<_> = r.access_out.iter().filter(|f| f.get(14 + 6) == Some(&ipv6::proto::UDP)).collect();
    assert_eq!(plain.len(), 1, "{err}");
    let ip = &plain[0][14..];
    let h = ipv6::Header::new_checked(ip).unwrap();
    assert_eq!((h.src_addr(), h.dst_addr(), ip.len()), (home, attached, 40 + 8 + 11));
    assert!(wire::checksum::verify_upper_layer(&home, &attached, ipv6::proto::UDP, &ip[40..]), "checksum valid as is (RFC 6275 §6.3)");
    assert_eq!(&plain[0][..6], &MN2_MAC);

    // From another address with the same home address: dropped, Binding Error 1 up the tunnel.
    let be: Vec<_> = up_out.iter().filter(|p| mh_type_of(p) == Some(mobility::mh_type::BINDING_ERROR)).collect();
    assert_eq!(be.len(), 1, "{err}");
    let ch = ext::walk(be[0]).unwrap();
    let b = BindingError::parse(&be[0][ch.upper_offset..]).unwrap();
    assert_eq!((b.status, b.home), (1, home));
    assert_eq!(ipv6::Header::new_checked(&be[0][..]).unwrap().dst_addr(), a("2001:db8:2::99"));

    let c = &r.counters;
    assert_eq!((c.get("roagent_rh2_inserted_total"), c.get("roagent_hao_rewritten_total")), (1, 1));
    assert_eq!(c.get("roagent_punted_packets_total{reason=\"too_big_route_optimized\"}"), 1);
    for f in ["access_out.pcap", "core_out.pcap"] {
        let p = tshark_problems(&r.scratch.0.join(f));
        assert!(p.is_empty(), "tshark on {f}: {p:?}");
    }
    assert_eq!(c.get("roagent_mempool_in_use"), 0, "no mbuf leaked");
}
