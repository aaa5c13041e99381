//! Start-up and shutdown: EAL, pool, ports, topology, rings, workers on their lcores, the
//! control core on the main lcore.

use crate::config::Config;
use crate::control_core::ControlCore;
use crate::error::Error;
use crate::http::Server;
use crate::metrics::Sources;
use crate::report;
use dataplane::counters::WorkerCounters;
use dataplane::eal::Eal;
use dataplane::mempool::Mempool;
use dataplane::port::Port;
use dataplane::ring;
use dataplane::worker::{Rx, Worker};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::info;

pub struct Options {
    /// Re-read on SIGHUP.
    pub config_path: String,
    pub stats_period: u64,
    /// Overrides log.level of the configuration.
    pub log_level: Option<String>,
    pub duration: Option<f64>,
    pub extra_eal: Vec<String>,
}

static SIGNALED: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALED.store(true, Ordering::Relaxed);
}

extern "C" fn on_hangup(_: libc::c_int) {
    RELOAD.store(true, Ordering::Relaxed);
}

/// Ring between a worker and the control core, in mbufs.
const RING_SIZE: u32 = 1024;
/// Descriptors per queue asked of the driver.
const DESCRIPTORS: u32 = 1024;
const POOL_CACHE: u32 = 256;

/// The EAL command line: config args, the ports' devices, then the command line's.
pub fn eal_args(cfg: &Config, extra: &[String]) -> Vec<String> {
    let mut args = vec!["roagent".to_string()];
    args.extend(cfg.eal.args.iter().cloned());
    let all_vdev = cfg.ports.access.is_vdev() && cfg.ports.core.is_vdev();
    for p in [&cfg.ports.access, &cfg.ports.core] {
        if p.is_vdev() {
            args.push(format!("--vdev={}", p.device));
        } else {
            args.push("-a".into());
            args.push(p.device.clone());
        }
    }
    let user = args.iter().chain(extra).any(|a| a == "--no-pci" || a == "-a" || a.starts_with("--allow") || a == "-b");
    if all_vdev && !user {
        args.push("--no-pci".into());
    }
    args.extend(extra.iter().cloned());
    args
}

/// Mempool sizing rule: every descriptor of every queue may hold an mbuf, every ring slot
/// may, every lcore cache may, plus the control core's working set; rounded up to 2^n − 1
/// (the size the mempool's ring uses best).
pub fn pool_size(workers: u32) -> u32 {
    let per_port = workers * DESCRIPTORS * 2;
    let n = 2 * per_port + workers * RING_SIZE * 2 + (workers + 1) * POOL_CACHE + 1024;
    n.next_power_of_two() - 1
}

/// The per-lcore cache of a pool of `n` mbufs: [`POOL_CACHE`], less for a small pool, so
/// the caches cannot hide most of it (DPDK also refuses a cache above n / 1.5).
pub fn pool_cache(n: u32) -> u32 {
    POOL_CACHE.min(n / 8)
}

pub fn run(cfg: Config, opts: Options) -> Result<(), Error> {
    // SAFETY: installing an async-signal-safe handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_hangup as *const () as libc::sighandler_t);
    }
    let level = crate::config::log_level(opts.log_level.as_deref().unwrap_or(&cfg.log.level)).map_err(|problem| Error::Arg { arg: "--log-level", problem })?;
    // Log lines go to stderr; a write error there is ignored, never fatal.
    use std::io::IsTerminal;
    let _ =
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).with_target(false).with_max_level(level).try_init();
    let args = eal_args(&cfg, &opts.extra_eal);
    info!("EAL arguments: {}", args[1..].join(" "));
    let eal = Eal::init(&args).map_err(Error::dpdk("eal"))?;
    let lcores = eal.worker_lcores();
    if lcores.is_empty() {
        return Err(Error::Startup {
            what: "eal",
            problem: "no worker lcore; give at least two lcores (e.g. -l 0-1): the main lcore runs the control core".into(),
        });
    }
    let nw = lcores.len() as u16;
    let socket = eal.socket_of(eal.main_lcore()).max(0);
    for (role, p) in [("access", &cfg.ports.access), ("core", &cfg.ports.core)] {
        let id = Port::find(p.name()).map_err(|e| Error::field(format!("ports.{role}.device"), format!("{} was not probed: {e}", p.name())))?;
        let cap = Port::capabilities(id).map_err(Error::dpdk(format!("ports.{role}.device")))?;
        if cap.max_rx_queues < nw || cap.max_tx_queues < nw {
            return Err(Error::field(
                format!("ports.{role}.device"),
                format!(
                    "{} ({}) has {} RX / {} TX queue(s), {} worker(s) need {} of each (add queues to the device or use fewer lcores)",
                    p.name(),
                    cap.driver,
                    cap.max_rx_queues,
                    cap.max_tx_queues,
                    nw,
                    nw
                ),
            ));
        }
    }
    let data_room = (cfg.ports.access.mtu.max(cfg.ports.core.mtu) as u32 + 14 + 40 + 24 + 128).max(dataplane::mbuf::DEFAULT_BUF_SIZE) as u16;
    let rule = pool_size(nw as u32);
    let n_mbufs = cfg.mempool.mbufs.unwrap_or(rule);
    if n_mbufs < rule {
        tracing::warn!(
            "mempool.mbufs = {n_mbufs} is below the sizing rule's {rule} for {nw} worker(s): under load RX will fail for lack of mbufs (counted as rx_nombuf)"
        );
    }
    let pool = Arc::new(
        Mempool::new("roagent_pool", n_mbufs, pool_cache(n_mbufs), data_room, socket)
            .map_err(Error::dpdk(format!("mempool ({n_mbufs} mbufs of {data_room} bytes)")))?,
    );
    let access = Port::start(cfg.ports.access.name(), nw, nw, &pool, cfg.ports.access.mtu, socket).map_err(Error::dpdk("ports.access.device"))?;
    let core = Port::start(cfg.ports.core.name(), nw, nw, &pool, cfg.ports.core.mtu, socket).map_err(Error::dpdk("ports.core.device"))?;
    let mac = wire::ethernet::fmt_mac;
    info!("port {} = access {} ({}), {nw} RX/TX queue(s), MTU {}", access.id, access.name, mac(&access.mac), cfg.ports.access.mtu);
    info!("port {} = core {} ({}), {nw} RX/TX queue(s), MTU {}", core.id, core.name, mac(&core.mac), cfg.ports.core.mtu);
    info!("mempool {n_mbufs} mbufs x {data_room} bytes; control core on lcore {}, workers on lcores {:?}", eal.main_lcore(), lcores);
    for (q, l) in lcores.iter().enumerate() {
        info!("worker {q} on lcore {l}: RX queue {q} and TX queue {q} of both ports");
    }

    let topo = Arc::new(crate::topology::build(&cfg, access.mac, core.mac));
    // Room for every binding plus those replaced or deleted but still in a grace period.
    let max_bindings = cfg.reflector.max_bindings;
    // BENCH KNOB: room for the preloaded synthetic bindings and the churn too.
    #[cfg(feature = "bench")]
    let max_bindings = cfg.bench.max_bindings(max_bindings);
    let records = max_bindings.saturating_add(max_bindings / 8 + 1024);
    let (table, mut readers) =
        dataplane::bindings::table("roagent_bindings", records, nw as u32, socket).map_err(Error::dpdk(format!("binding table ({records} entries)")))?;
    // BENCH KNOB: synthetic bindings, published before the workers start; worker 0's generator.
    #[cfg(feature = "bench")]
    let (table, mut bench) = crate::bench::Run::start(&cfg.bench, table, &pool, &access, &core).map_err(|problem| Error::Startup { what: "bench", problem })?;
    let start = Instant::now();
    let agent = crate::agent::Agent::new(cfg.reflector.to_reflector(), entropy()?, start);
    let stop = Arc::new(AtomicBool::new(false));
    // From here on, whatever way `run` ends (error, panic), the workers are stopped and
    // waited for before the EAL is cleaned up; otherwise cleanup would wait forever.
    let mut workers = StopWorkers { stop: stop.clone(), eal: &eal, stopped: false };
    let mut from_workers = Vec::new();
    let mut to_workers = Vec::new();
    let mut watchers = Vec::new();
    let mut counters = Vec::new();
    // Everything is allocated but a few rings; no packet has been read yet.
    info!("resident memory before forwarding: {} kB", resident_kb("VmRSS").unwrap_or(0));
    for (q, &lcore) in lcores.iter().enumerate() {
        let (punt_tx, punt_rx) = ring::pair(&format!("roagent_punt{q}"), RING_SIZE, socket).map_err(Error::dpdk("ring"))?;
        let (inj_tx, inj_rx) = ring::pair(&format!("roagent_inject{q}"), RING_SIZE, socket).map_err(Error::dpdk("ring"))?;
        watchers.push((punt_tx.watcher(), inj_tx.watcher()));
        from_workers.push(punt_rx);
        to_workers.push(inj_tx);
        let c = Arc::new(WorkerCounters::default());
        counters.push(c.clone());
        let rx = Rx::new([access.rx_queue(q as u16), core.rx_queue(q as u16)]);
        // BENCH KNOB: worker 0 makes the traffic of a mix in place of one port's RX queue.
        #[cfg(feature = "bench")]
        let rx = bench.rx(rx);
        let w = Worker {
            id: q,
            rx,
            tx: [access.tx_queue(q as u16), core.tx_queue(q as u16)],
            to_control: punt_tx,
            from_control: inj_rx,
            counters: c,
            topo: topo.clone(),
            stop: stop.clone(),
            bindings: readers.remove(0),
            policer: dataplane::policer::Policer::new(&cfg.punt.budget(), dataplane::tsc_hz(), dataplane::rdtsc()),
        };
        eal.launch(lcore, move || w.run()).map_err(Error::dpdk(format!("lcore {lcore}")))?;
    }
    let registrations = (cfg.mag.signaling == crate::config::Signaling::Pmipv6).then(|| {
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().saturating_sub(start.elapsed());
        crate::registration::Registrations::new(&cfg, &topo, wall)
    });
    let mut control =
        ControlCore::new(topo.clone(), pool.clone(), from_workers, to_workers, crate::links::Settings::from_config(&cfg), agent, registrations, table);
    let probes = [(&access, &cfg.ports.access), (&core, &cfg.ports.core)]
        .map(|(p, c)| dataplane::port::LinkProbe { port: p.id, iface: c.linux_iface().map(str::to_string) });
    let sources = Arc::new(Sources {
        workers: counters.clone(),
        lcores: lcores.clone(),
        control: control.plane.links.counters.clone(),
        agent: control.plane.agent.counters.clone(),
        bindings: control.plane.agent.view.clone(),
        tsc_hz: dataplane::tsc_hz(),
        dpdk: Some(crate::metrics::DpdkSources { pool: pool.clone(), links: probes.clone(), rings: watchers }),
        pmip: control
            .plane
            .registrations
            .as_ref()
            .map_or_else(Default::default, |r| crate::metrics::PmipSources { counters: r.counters.clone(), mobiles: r.view.clone() }),
        http: Arc::default(),
    });
    let server = if cfg.metrics.address.is_empty() {
        None
    } else {
        let cpu = eal.cpu_of(eal.main_lcore());
        let s = Server::start(&cfg.metrics.address, cfg.metrics.max_connections, sources.clone(), cpu)?;
        info!("metrics on http://{}/metrics, bindings on http://{}/bindings, mobile nodes on http://{}/mobiles", s.addr, s.addr, s.addr);
        Some(s)
    };
    info!("running ({} attached node(s), {} LMA(s), {:?} mode, {:?} signaling)", topo.attached.len(), topo.lmas.len(), topo.mode, topo.signaling);

    let end = opts.duration.map(Duration::from_secs_f64);
    let mut next_tick = Duration::ZERO;
    let mut next_stats = Duration::from_secs(opts.stats_period);
    let ports = [&access, &core];
    let mut links = LinkWatch::default();
    while !SIGNALED.load(Ordering::Relaxed) {
        let now = start.elapsed();
        if end.is_some_and(|e| now >= e) {
            break;
        }
        let n = control.poll(now);
        if RELOAD.swap(false, Ordering::Relaxed) {
            match Config::load(&opts.config_path) {
                Ok(new) => control.reload(now, &cfg, &new),
                Err(e) => tracing::error!("reload refused, configuration unchanged: {e}"),
            }
        }
        // BENCH KNOB: binding adds and deletes from the control core (no-op unless asked).
        #[cfg(feature = "bench")]
        bench.step(&mut control.io.table, now);
        if now >= next_tick {
            control.tick(now);
            links.check(&ports, &probes);
            next_tick = now + Duration::from_millis(100);
        }
        if opts.stats_period > 0 && now >= next_stats {
            report::print_port_stats(&ports, &counters);
            next_stats = now + Duration::from_secs(opts.stats_period);
        }
        if n == 0 {
            // The control core is not the fast path; idling frees the core for the OS.
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    info!("stopping");
    drop(server);
    let clean = workers.stop();
    info!("resident memory at the end: {} kB, at the peak: {} kB", resident_kb("VmRSS").unwrap_or(0), resident_kb("VmHWM").unwrap_or(0));
    // Last punts still in flight; their replies can no longer leave and are freed.
    control.workers_stopped();
    control.poll(start.elapsed());
    control.drain();
    report::print_port_stats(&ports, &counters);
    report::print_text(&sources.render());
    #[cfg(feature = "bench")]
    bench.report();
    access.stop();
    core.stop();
    drop(control);
    // Every mbuf is back once the ports (whose queues may hold some) have stopped: anything
    // still in use now is a leak.
    let left = pool.in_use();
    report::print_text(&format!("# mempool in use after the ports stopped: {left} of {}\n", pool.size()));
    if left == 0 {
        info!("mempool: every mbuf returned after the ports stopped");
    } else {
        tracing::warn!("mempool: {left} of {} mbufs still in use after the ports stopped (leaked)", pool.size());
    }
    if !clean {
        return Err(Error::Worker);
    }
    Ok(())
}

/// The ports' link status (the drivers', and the kernel's for a port on a Linux interface),
/// logged when it changes; read from the control core's tick, never from a worker.
#[derive(Default)]
struct LinkWatch {
    last: [Option<bool>; 2],
}

impl LinkWatch {
    fn check(&mut self, ports: &[&Port; 2], probes: &[dataplane::port::LinkProbe; 2]) {
        for ((role, p), probe) in dataplane::counters::Role::ALL.into_iter().zip(ports).zip(probes) {
            let now = probe.up();
            let was = std::mem::replace(&mut self.last[role as usize], now);
            match (was, now) {
                (Some(true), Some(false)) => tracing::warn!("port {} ({role}, {}): link down", p.id, p.name),
                (Some(false), Some(true)) => info!("port {} ({role}, {}): link up", p.id, p.name),
                (None, Some(false)) => tracing::warn!("port {} ({role}, {}): link down at start", p.id, p.name),
                _ => {}
            }
        }
    }
}

/// A memory figure of this process from /proc/self/status (`VmRSS`, `VmHWM`), in kB.
fn resident_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Stops the workers once: on the normal path, or when `run` unwinds or returns early.
struct StopWorkers<'a> {
    stop: Arc<AtomicBool>,
    eal: &'a Eal,
    stopped: bool,
}

impl StopWorkers<'_> {
    /// Tells every worker to finish its burst and waits; true if all returned 0.
    fn stop(&mut self) -> bool {
        self.stopped = true;
        self.stop.store(true, Ordering::Relaxed);
        self.eal.wait_all()
    }
}

impl Drop for StopWorkers<'_> {
    fn drop(&mut self) {
        if !self.stopped {
            self.stop();
        }
    }
}

/// Randomness for Kcn and nonces: the OS's, unless a test fixes it.
fn entropy() -> Result<Box<dyn reflector::Entropy + Send>, Error> {
    if let Ok(seed) = std::env::var("ROAGENT_INSECURE_TEST_ENTROPY") {
        let seed: u64 = seed.parse().map_err(|_| Error::Startup { what: "ROAGENT_INSECURE_TEST_ENTROPY", problem: format!("{seed:?} is not a number") })?;
        tracing::warn!("Kcn and nonces are predictable (ROAGENT_INSECURE_TEST_ENTROPY={seed}); for tests only");
        return Ok(Box::new(reflector::TestEntropy::new(seed)));
    }
    Ok(Box::new(reflector::OsEntropy::new().map_err(Error::os("/dev/urandom"))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_covers_every_place_an_mbuf_can_sit() {
        for w in 1..8 {
            let n = pool_size(w);
            assert!(n >= 4 * w * DESCRIPTORS + 2 * w * RING_SIZE + (w + 1) * POOL_CACHE);
            assert!((n + 1).is_power_of_two());
        }
    }

    #[test]
    fn a_small_pool_gets_a_small_cache() {
        assert_eq!(pool_cache(pool_size(1)), POOL_CACHE);
        assert_eq!(pool_cache(crate::config::MIN_MBUFS), 127);
        // DPDK refuses a cache whose flush threshold (1.5 x) exceeds the pool.
        for n in [crate::config::MIN_MBUFS, 2047, pool_size(1)] {
            assert!(pool_cache(n) * 3 / 2 <= n);
        }
    }

    #[test]
    fn eal_args_add_vdevs_and_no_pci() {
        let cfg = Config::parse(
            "[ports.access]\ndevice = \"net_null0\"\n[ports.core]\ndevice = \"net_null1\"\n[mag]\nproxy_coa = \"2001:db8::1\"\nsignaling = \"static\"\nmode = \"routed\"\nrouted_next_hop = \"2001:db8::2\"\n[eal]\nargs = [\"-l\", \"0-1\"]\n",
            "t",
        )
        .unwrap();
        let a = eal_args(&cfg, &["--no-huge".into()]);
        assert_eq!(a, ["roagent", "-l", "0-1", "--vdev=net_null0", "--vdev=net_null1", "--no-pci", "--no-huge"]);
    }
}
