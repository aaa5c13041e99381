//! Support for the end-to-end tests: pcap files, network namespaces, the MN1 test peer.
