//! Raw bindings to the system DPDK 22.11 (pkg-config `libdpdk`). Nothing but bindings lives
//! here; the safe layer is the `dataplane` crate.
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code, clippy::all)]
#![allow(improper_ctypes, unnecessary_transmutes)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
