//! Generates bindings for the system DPDK found by pkg-config and compiles C wrappers for
//! its `static inline` functions (bindgen's wrap_static_fns).

use std::env;
use std::path::PathBuf;

fn main() {
    let dpdk = pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .expect("libdpdk not found by pkg-config: install libdpdk-dev (scripts/setup-host does)");

    // Use exactly the compile flags DPDK was built for (Debian's baseline, not -march=native),
    // so the binary runs on any host the Debian package runs on.
    let cflags = pkg_config_cflags();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let wrappers = out.join("static_fns");

    let headers = [
        "rte_common",
        "rte_errno",
        "rte_eal",
        "rte_lcore",
        "rte_launch",
        "rte_cycles",
        "rte_memory",
        "rte_malloc",
        "rte_mempool",
        "rte_mbuf",
        "rte_mbuf_core",
        "rte_mbuf_ptype",
        "rte_ring",
        "rte_ring_core",
        "rte_ring_elem",
        "rte_ring_generic_pvt",
        "rte_ring_c11_pvt",
        "rte_ring_peek",
        "rte_ethdev",
        "rte_ethdev_core",
        "rte_dev",
        "rte_rcu_qsbr",
        "rte_prefetch",
        "rte_branch_prediction",
        "rte_atomic",
        "rte_pause",
        "rte_byteorder",
        "rte_ring_elem_pvt",
        "rte_thread",
        "rte_config",
        "rte_build_config",
        "rte_per_lcore",
        "rte_bitops",
        "rte_mbuf_dyn",
    ];
    let file_re = format!(r".*/(generic/)?({})\.h|.*wrapper\.h", headers.join("|"));

    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(cflags.iter())
        .allowlist_file(&file_re)
        .allowlist_function("roagent_.*")
        // Known snags on 22.11: packed-and-aligned structs bindgen cannot lay out.
        .opaque_type("rte_arp_ipv4")
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_gtp_psc_generic_hdr")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .blocklist_function(".*_pvt")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrappers)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for p in &dpdk.include_paths {
        builder = builder.clang_arg(format!("-I{}", p.display()));
    }
    let bindings = builder.generate().expect("bindgen failed on the DPDK headers");
    bindings.write_to_file(out.join("bindings.rs")).unwrap();

    let mut cc = cc::Build::new();
    cc.file(wrappers.with_extension("c")).file("helpers.c").include(env::current_dir().unwrap()).warnings(false).opt_level(3);
    for f in &cflags {
        cc.flag(f);
    }
    cc.compile("dpdk_static_fns");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=helpers.c");
}

fn pkg_config_cflags() -> Vec<String> {
    let out = std::process::Command::new("pkg-config").args(["--cflags", "libdpdk"]).output().expect("pkg-config not found: install pkg-config");
    let s = String::from_utf8(out.stdout).unwrap();
    // "-include rte_config.h" is two words that must stay together.
    let mut v = Vec::new();
    let mut it = s.split_whitespace();
    while let Some(w) = it.next() {
        if w == "-include" {
            if let Some(f) = it.next() {
                v.push(format!("-include{f}"));
            }
        } else {
            v.push(w.to_string());
        }
    }
    v
}
