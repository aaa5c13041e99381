//! Target `wire_parsers`: every view and parser on the same bytes, read as a frame, an
//! IPv6 packet and a Mobility Header. None may panic, and what they accept must hold
//! together: the hot-path header check equals the view's, offsets stay inside the packet,
//! and a `Repr` parsed and emitted again gives the same bytes back.

use crate::ipv6::{self, HEADER_LEN};
use crate::mobility::{self, mh_type, BindingAck, BindingError, BindingRefreshRequest, BindingUpdate, CareOfTest, CareOfTestInit, HomeTest, HomeTestInit};
use crate::{ethernet, ext, hao, icmpv6, nd, rh2, tunnel};

pub fn parsers(data: &[u8]) {
    ethernet_frame(data);
    ipv6_header(data);
    chain(data);
    let _ = nd::parse(data);
    tunnel_packet(data);
    icmp(data);
    routing_header(data);
    mobility_header(data);
    let _ = hao::emit_dest_opts(&mut data.to_vec(), 59, &crate::testpkt::a("2001:db8::1"));
}

fn ethernet_frame(b: &[u8]) {
    match ethernet::Frame::new_checked(b) {
        Ok(f) => {
            assert_eq!(f.payload().len(), b.len() - ethernet::HEADER_LEN);
            let _ = (f.dst(), f.src(), f.ethertype());
        }
        Err(_) => assert!(b.len() < ethernet::HEADER_LEN),
    }
}

fn ipv6_header(b: &[u8]) {
    let view = ipv6::Header::new_checked(b);
    let fixed = ipv6::Fixed::parse(b);
    // The worker's header check (`Fixed`) and the view's accept the same packets.
    assert_eq!(view.is_ok(), fixed.is_some(), "ipv6::Fixed::parse and Header::new_checked disagree");
    let (Ok(h), Some(f)) = (view, fixed) else { return };
    assert_eq!((f.src, f.dst), (u128::from(h.src_addr()), u128::from(h.dst_addr())));
    assert_eq!((f.next_header, f.hop_limit, f.payload_len, f.traffic_class), (h.next_header(), h.hop_limit(), usize::from(h.payload_len()), h.traffic_class()));
    assert!(h.total_len() <= b.len());
    assert_eq!(h.payload().len(), h.total_len() - HEADER_LEN);
    // Repr: parse → emit gives the header's 40 bytes back.
    let r = ipv6::Repr::parse(&h).expect("Repr::parse of a checked header");
    let mut out = [0u8; HEADER_LEN];
    r.emit(&mut out).expect("40 bytes of room");
    assert_eq!(out[..], b[..HEADER_LEN], "ipv6::Repr round trip");
}

fn chain(b: &[u8]) {
    let Ok(c) = ext::walk(b) else { return };
    let total = ipv6::Header::new_checked(b).expect("walk accepted it").total_len();
    assert!(c.upper_offset <= total, "upper layer past the packet");
    assert!(c.insert_offset <= c.upper_offset);
    assert!(c.insert_offset >= HEADER_LEN);
    assert!(usize::from(c.headers) <= ext::MAX_HEADERS);
    assert_eq!(c.hop_by_hop, b[6] == ipv6::proto::HOP_BY_HOP);
    if let Some(r) = c.routing {
        assert!(r.offset >= HEADER_LEN && r.offset + r.len <= total);
        assert_eq!((b[r.offset + 2], b[r.offset + 3]), (r.routing_type, r.segments_left));
        if let Some(home) = r.home_address {
            assert_eq!(r.routing_type, 2);
            assert_eq!(ipv6::get_addr(b, r.offset + 8), Some(home));
        }
    }
    if let Some(h) = c.home_address {
        assert!(h.header_offset >= HEADER_LEN && h.header_offset + h.header_len <= total);
        assert!(h.option_offset >= h.header_offset + 2 && h.option_offset + hao::OPTION_LEN <= h.header_offset + h.header_len);
        assert_eq!((b[h.option_offset], b[h.option_offset + 1]), (hao::OPTION_TYPE, hao::OPTION_DATA_LEN));
        assert_eq!(ipv6::get_addr(b, h.option_offset + 2), Some(h.home));
        assert_eq!(b[h.prev_next_header_offset], ipv6::proto::DEST_OPTS);
    }
    if let Some(f) = c.fragment {
        assert!(f.offset >= HEADER_LEN && f.offset + 8 <= total);
    }
}

fn tunnel_packet(b: &[u8]) {
    let Ok(d) = tunnel::decapsulate(b) else { return };
    assert!(d.inner_offset + d.inner_len <= ipv6::Header::new_checked(b).expect("outer checked").total_len());
    assert!(ipv6::Header::new_checked(&b[d.inner_offset..]).is_ok());
    let walked = ext::walk(b).expect("decapsulate walked it");
    assert_eq!(tunnel::decapsulate_walked(b, &walked), Ok(d));
}

fn icmp(b: &[u8]) {
    let _ = icmpv6::may_send_error(b);
    let _ = icmpv6::may_send_error_kind(b, &icmpv6::ErrorKind::PacketTooBig { mtu: 1280 });
    if let Ok(m) = icmpv6::Message::new_checked(b) {
        let _ = (m.msg_type(), m.code(), m.checksum(), m.body().len(), m.is_error(), m.echo_id_seq(), m.error_word());
        if let Some(k) = m.error_kind() {
            assert_eq!(icmpv6::ErrorKind::parse(k.msg_type(), k.code(), k.word()), Some(k), "icmpv6::ErrorKind round trip");
        }
    }
}

fn routing_header(b: &[u8]) {
    let Ok(t) = rh2::Type2::new_checked(b) else { return };
    let r = rh2::Repr::parse(&t).expect("checked");
    let mut out = [0u8; rh2::LEN];
    r.emit(&mut out).expect("24 bytes of room");
    // Everything but the Reserved field, which is written as zero.
    assert_eq!((&out[..4], &out[8..]), (&b[..4], &b[8..rh2::LEN]), "rh2::Repr round trip");
}

/// Parse → emit → parse gives the same message (the Binding Authorization Data option
/// lands where `emit` puts it, so its offset is not compared).
fn mobility_header(b: &[u8]) {
    let _ = mobility::bad_offset(b);
    let _ = mobility::authenticated_parts(b);
    let Ok(h) = mobility::Header::new_checked(b) else { return };
    assert_eq!(h.message().len(), h.header_len_bytes());
    assert!(h.header_len_bytes() <= b.len());
    for o in mobility::Options::new(h.message(), 6) {
        if o.is_err() {
            break;
        }
    }
    let m = h.message();
    macro_rules! round_trip {
        ($t:ty) => {
            if let Ok(x) = <$t>::parse(m) {
                assert_eq!(<$t>::parse(&x.to_bytes()), Ok(x), concat!(stringify!($t), " round trip"));
            }
        };
    }
    match h.mh_type() {
        mh_type::HOME_TEST_INIT => round_trip!(HomeTestInit),
        mh_type::CARE_OF_TEST_INIT => round_trip!(CareOfTestInit),
        mh_type::HOME_TEST => round_trip!(HomeTest),
        mh_type::CARE_OF_TEST => round_trip!(CareOfTest),
        mh_type::BINDING_ACK => round_trip!(BindingAck),
        mh_type::BINDING_ERROR => round_trip!(BindingError),
        mh_type::BINDING_REFRESH_REQUEST => round_trip!(BindingRefreshRequest),
        mh_type::BINDING_UPDATE => {
            if let Ok(bu) = BindingUpdate::parse(m) {
                let again = BindingUpdate::parse(&bu.to_bytes()).expect("an emitted BU parses");
                assert_eq!(BindingUpdate { bad_offset: None, ..again }, BindingUpdate { bad_offset: None, ..bu }, "BindingUpdate round trip");
                assert_eq!(again.bad_offset, bu.emitted_bad_offset());
            }
        }
        _ => {}
    }
}
