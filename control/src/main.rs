//! `roagent`: the MAG dataplane with the Route Optimization Agent.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod agent;
mod app;
// Bench knobs and template packets for scripts/bench: only with the `bench` feature.
#[cfg(feature = "bench")]
mod bench;
mod bindings_view;
mod config;
mod control_core;
mod control_plane;
mod counters;
mod egress;
mod error;
mod http;
mod links;
mod metrics;
mod mobiles_view;
mod neighbors;
mod ratelimit;
mod registration;
mod reload;
mod report;
#[cfg(test)]
mod testing;
mod topology;

#[derive(Parser)]
#[command(name = "roagent", version, about = "PMIPv6 MAG dataplane with the Route Optimization Agent (draft-cui-netext-route-optimization-agent-ext-00)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the dataplane.
    Run {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: String,
        /// Print testpmd-like port counters every N seconds (overrides control.stats_period).
        #[arg(long, value_name = "N")]
        stats_period: Option<u64>,
        /// Stop by itself after this many seconds (demos, tests, benchmarks).
        #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
        duration: Option<f64>,
        /// Log level: error, warn, info, debug, trace (overrides log.level).
        #[arg(long, value_name = "LEVEL")]
        log_level: Option<String>,
        /// EAL arguments, after `--`; appended to eal.args of the configuration.
        #[arg(last = true)]
        eal: Vec<String>,
    },
    /// Print the live binding cache of a running roagent (from its /bindings).
    Bindings {
        /// The running roagent's metrics.address.
        #[arg(long, default_value = config::DEFAULT_METRICS_ADDRESS)]
        addr: String,
    },
    /// Print the mobile nodes of a running roagent and their registrations (from its /mobiles).
    Mobiles {
        /// The running roagent's metrics.address.
        #[arg(long, default_value = config::DEFAULT_METRICS_ADDRESS)]
        addr: String,
    },
    /// BENCH ONLY (scripts/bench; `bench` feature): write the template frames of a traffic
    /// mix as a pcap.
    #[cfg(feature = "bench")]
    #[command(hide = true)]
    BenchPackets {
        /// up-nobind, up-bind, down-decap, down-hao, down-hao-hoti, down-hao-hoti50, hoti, bu
        /// or bu-fresh.
        #[arg(long)]
        mix: String,
        /// Keys are drawn from bindings 0..N (see bench.rs).
        #[arg(long, default_value_t = 1024)]
        bindings: u64,
        #[arg(long, default_value_t = 1024)]
        frames: usize,
        /// Zipf-like (s ≈ 1) instead of uniform keys.
        #[arg(long)]
        zipf: bool,
        /// Destination MAC: the receiving roagent port's.
        #[arg(long)]
        mac: String,
        #[arg(long)]
        out: String,
        /// bu, bu-fresh: the ROAGENT_INSECURE_TEST_ENTROPY seed roagent will run with, so the
        /// Binding Updates can be signed with the tokens it hands out.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Validate a configuration file and exit.
    CheckConfig {
        /// Configuration file (TOML).
        file: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout with success; argument errors are one line.
            if e.use_stderr() {
                let msg = e.to_string();
                let first = msg.lines().next().unwrap_or("invalid arguments");
                eprintln!("roagent: {}", first.trim_start_matches("error: "));
                return ExitCode::from(2);
            }
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match cli.cmd {
        Cmd::CheckConfig { file } => match config::Config::load(&file) {
            Ok(c) => {
                println!("{file}: ok ({} LMA(s), {} attached node(s), {:?} mode)", c.lmas.len(), c.nodes.len(), c.mag.mode);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("roagent: config error: {e}");
                ExitCode::from(2)
            }
        },
        #[cfg(feature = "bench")]
        Cmd::BenchPackets { mix, bindings, frames, zipf, mac, out, seed } => match bench::write_packets(&mix, bindings, frames, zipf, &mac, &out, seed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roagent: bench-packets: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Mobiles { addr } => match metrics::print_mobiles(&addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roagent: mobiles: {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Bindings { addr } => match metrics::print_bindings(&addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roagent: bindings: {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Run { config, stats_period, duration, log_level, eal } => {
            let cfg = match config::Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("roagent: config error: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(d) = duration {
                if !(d.is_finite() && d > 0.0) {
                    eprintln!("roagent: --duration: {d} is not a positive number of seconds");
                    return ExitCode::from(2);
                }
            }
            if let Some(l) = &log_level {
                if let Err(p) = config::log_level(l) {
                    eprintln!("roagent: --log-level: {p}");
                    return ExitCode::from(2);
                }
            }
            let opts = app::Options {
                config_path: config.clone(),
                stats_period: stats_period.unwrap_or(cfg.control.stats_period),
                log_level,
                duration,
                extra_eal: eal,
            };
            match app::run(cfg, opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("roagent: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
