//! Support for the end-to-end tests: pcap files, running the binary on virtual devices,
//! network namespaces, test frames, and floods.

pub mod flood;
pub mod mn1;
pub mod netns;
pub mod packets;
pub mod pcap;
pub mod pmip_lma;
pub mod run;
pub mod tunnel_end;
