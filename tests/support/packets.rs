//! Frames for the tests: `wire`'s test-packet builder, under the names the tests use.

pub use wire::testpkt::{a, echo_request, eth, frame as ipv6_frame, ip6, neighbor_solicit, tunneled, udp_packet};
