//! What `/metrics` (Prometheus text format), `/bindings` and `/mobiles` (JSON) answer, served
//! by `http.rs`, and `roagent bindings|mobiles`. Scrapes read the per-core counters with
//! relaxed loads and sum them: the workers' cache lines are never written from here. The same
//! text is printed at exit.

use crate::bindings_view::{self, BindingJson, BindingsView};
use crate::counters::{AgentCounters, ControlCounters, HttpCounters, HttpRefusal, PmipCounters, DELETE_REASONS, HTTP_PATHS, MH_TYPES};
use crate::error::Error;
use crate::mobiles_view::{self, MobileJson, MobilesView};
use dataplane::counters::{Counter, Drop, Punt, Role, WorkerBlock, WorkerCounters};
use dataplane::mempool::Mempool;
use dataplane::port::{Port, PortStats};
use dataplane::ring::Watcher;
use prometheus::proto::{Counter as PCounter, Gauge as PGauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};
use reflector::DropReason;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything a scrape reads.
pub struct Sources {
    pub workers: Vec<Arc<WorkerCounters>>,
    /// lcore of each worker, same order.
    pub lcores: Vec<u32>,
    pub control: Arc<ControlCounters>,
    pub agent: Arc<AgentCounters>,
    pub bindings: Arc<BindingsView>,
    pub tsc_hz: u64,
    /// DPDK's own counters; `None` where there is no EAL (unit tests).
    pub dpdk: Option<DpdkSources>,
    /// The MAG's PMIPv6 signaling (all zero and no mobile node in static mode, so dashboards
    /// see the same series everywhere).
    pub pmip: PmipSources,
    /// The HTTP endpoint's own counters (its thread writes them).
    pub http: Arc<HttpCounters>,
}

#[derive(Default)]
pub struct PmipSources {
    pub counters: Arc<PmipCounters>,
    pub mobiles: Arc<MobilesView>,
}

/// What DPDK itself counts: the drivers, the rings, the mempool.
pub struct DpdkSources {
    pub pool: Arc<Mempool>,
    /// Each port by role: its DPDK id, and how its link state is read.
    pub links: [dataplane::port::LinkProbe; 2],
    /// Per worker: (punt ring to control, inject ring from control).
    pub rings: Vec<(Watcher, Watcher)>,
}

/// One reading of [`DpdkSources`].
#[derive(Default)]
pub struct Readings {
    pub ports: [PortStats; 2],
    /// Link status by role, per the driver and, on a Linux interface, the kernel
    /// (`LinkProbe::up`; `None`: neither can say).
    pub link_up: [Option<bool>; 2],
    /// Per worker: mbufs in (punt ring, inject ring).
    pub rings: Vec<(u32, u32)>,
    pub pool_in_use: u32,
    pub pool_size: u32,
}

impl DpdkSources {
    pub fn read(&self) -> Readings {
        Readings {
            ports: [Port::stats_of(self.links[0].port), Port::stats_of(self.links[1].port)],
            link_up: [self.links[0].up(), self.links[1].up()],
            rings: self.rings.iter().map(|(p, i)| (p.len(), i.len())).collect(),
            pool_in_use: self.pool.in_use(),
            pool_size: self.pool.size(),
        }
    }
}

struct Family(MetricFamily);

impl Family {
    fn new(name: &str, help: &str, kind: MetricType) -> Family {
        let mut f = MetricFamily::default();
        f.set_name(name.to_string());
        f.set_help(help.to_string());
        f.set_field_type(kind);
        Family(f)
    }

    fn add(&mut self, labels: &[(&str, &str)], v: f64) -> &mut Self {
        let mut m = Metric::default();
        m.set_label(
            labels
                .iter()
                .map(|(k, v)| {
                    let mut l = LabelPair::default();
                    l.set_name(k.to_string());
                    l.set_value(v.to_string());
                    l
                })
                .collect(),
        );
        if self.0.get_field_type() == MetricType::COUNTER {
            let mut c = PCounter::default();
            c.set_value(v);
            m.set_counter(c);
        } else {
            let mut g = PGauge::default();
            g.set_value(v);
            m.set_gauge(g);
        }
        self.0.mut_metric().push(m);
        self
    }
}

fn counter(name: &str, help: &str) -> Family {
    Family::new(name, help, MetricType::COUNTER)
}

fn gauge(name: &str, help: &str) -> Family {
    Family::new(name, help, MetricType::GAUGE)
}

/// The BA statuses of RFC 6275 §6.1.8 a correspondent node can send.
const BA_STATUSES: [u8; 8] = [0, 130, 131, 135, 136, 137, 138, 139];

impl Sources {
    fn sum(&self, f: impl Fn(&WorkerBlock) -> &Counter) -> f64 {
        dataplane::counters::sum(self.workers.iter().map(|w| &**w), f) as f64
    }

    /// Every metric family, summed over the workers where per-queue labels are not wanted.
    fn families(&self, r: &Readings) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        let queues: Vec<String> = (0..self.workers.len()).map(|q| q.to_string()).collect();

        for (name, help, field) in [
            ("roagent_port_rx_packets_total", "Packets received, by port and queue.", 0),
            ("roagent_port_rx_bytes_total", "Bytes received, by port and queue.", 1),
            ("roagent_port_tx_packets_total", "Packets sent, by port and queue.", 2),
            ("roagent_port_tx_bytes_total", "Bytes sent, by port and queue.", 3),
        ] {
            let mut f = counter(name, help);
            for (q, w) in self.workers.iter().enumerate() {
                for r in Role::ALL {
                    let role = r.label();
                    let c = match field {
                        0 => &w.rx_packets[r],
                        1 => &w.rx_bytes[r],
                        2 => &w.tx_packets[r],
                        _ => &w.tx_bytes[r],
                    };
                    f.add(&[("port", role), ("queue", &queues[q])], c.get() as f64);
                }
            }
            out.push(f.0);
        }
        let stats = &r.ports;
        for (name, help, get) in [
            (
                "roagent_port_driver_rx_missed_total",
                "Packets the driver dropped for lack of RX descriptors.",
                (|s: &dataplane::port::PortStats| s.imissed) as fn(&dataplane::port::PortStats) -> u64,
            ),
            ("roagent_port_driver_rx_errors_total", "Erroneous packets received, per the driver.", |s| s.ierrors),
            ("roagent_port_driver_rx_nombuf_total", "RX mbuf allocation failures, per the driver.", |s| s.rx_nombuf),
            ("roagent_port_driver_tx_errors_total", "Failed transmissions, per the driver.", |s| s.oerrors),
        ] {
            let mut f = counter(name, help);
            for r in Role::ALL {
                f.add(&[("port", r.label())], get(&stats[r]) as f64);
            }
            out.push(f.0);
        }

        let mut f = gauge(
            "roagent_port_link_up",
            "1 if the port's link is up, 0 if down, per its driver and, on a Linux interface, the kernel (absent if neither can say).",
        );
        for role in Role::ALL {
            if let Some(up) = r.link_up[role as usize] {
                f.add(&[("port", role.label())], if up { 1.0 } else { 0.0 });
            }
        }
        out.push(f.0);
        let mut f = counter("roagent_dropped_packets_total", "Packets the dataplane dropped, by port it arrived on, queue and reason.");
        for (q, w) in self.workers.iter().enumerate() {
            for r in Role::ALL {
                for d in Drop::ALL {
                    f.add(&[("port", r.label()), ("queue", &queues[q]), ("reason", d.label())], w.drops[r][*d as usize].get() as f64);
                }
            }
        }
        out.push(f.0);
        let mut f = counter("roagent_punted_packets_total", "Packets handed to the control core, by reason.");
        for p in Punt::ALL {
            f.add(&[("reason", p.label())], self.sum(|w| &w.punts[*p as usize]));
        }
        out.push(f.0);
        let mut f = counter("roagent_punts_policed_total", "Packets a worker dropped instead of punting: beyond the reason's [punt] budget, by reason.");
        for p in Punt::ALL {
            f.add(&[("reason", p.label())], self.sum(|w| &w.policed[*p as usize]));
        }
        out.push(f.0);
        for (name, help, get) in [
            (
                "roagent_tunnel_encapsulations_total",
                "Uplink packets encapsulated toward an LMA (RFC 5213 §6.10.5).",
                (|w: &WorkerCounters| &w.encapsulated) as fn(&WorkerCounters) -> &Counter,
            ),
            ("roagent_tunnel_decapsulations_total", "Downlink packets decapsulated from an LMA.", |w| &w.decapsulated),
            ("roagent_rh2_inserted_total", "Uplink packets given a Type 2 Routing Header to a care-of address.", |w| &w.rh2_inserted),
            ("roagent_rh2_refused_total", "Uplink packets with a binding that may not carry a Type 2 Routing Header.", |w| &w.rh2_refused),
            ("roagent_hao_rewritten_total", "Downlink packets whose Home Address option was verified and removed.", |w| &w.hao_rewritten),
            ("roagent_injected_packets_total", "Packets from the control core sent by a worker.", |w| &w.injected),
        ] {
            let mut f = counter(name, help);
            for (q, w) in self.workers.iter().enumerate() {
                f.add(&[("queue", &queues[q])], get(w).get() as f64);
            }
            out.push(f.0);
        }
        let mut polls = counter("roagent_worker_polls_total", "Worker poll iterations, busy (found packets) or idle, by lcore.");
        let mut cycles = counter("roagent_worker_busy_cycles_total", "TSC cycles spent in busy polls, by lcore.");
        for (q, w) in self.workers.iter().enumerate() {
            let lcore = self.lcores.get(q).map_or(String::new(), |l| l.to_string());
            polls.add(&[("lcore", &lcore), ("state", "busy")], w.polls_busy.get() as f64);
            polls.add(&[("lcore", &lcore), ("state", "idle")], w.polls_idle.get() as f64);
            cycles.add(&[("lcore", &lcore)], w.busy_cycles.get() as f64);
        }
        out.push(polls.0);
        out.push(cycles.0);
        out.push(gauge("roagent_tsc_hz", "TSC frequency, to turn cycles into seconds.").add(&[], self.tsc_hz as f64).0.clone());
        let mut f = gauge("roagent_ring_occupancy", "Mbufs waiting in a ring, by ring and queue.");
        for (q, (punt, inject)) in r.rings.iter().enumerate() {
            f.add(&[("ring", "punt"), ("queue", &queues[q])], f64::from(*punt));
            f.add(&[("ring", "inject"), ("queue", &queues[q])], f64::from(*inject));
        }
        out.push(f.0);
        out.push(gauge("roagent_mempool_in_use", "Packet buffers in use.").add(&[], f64::from(r.pool_in_use)).0.clone());
        out.push(gauge("roagent_mempool_size", "Packet buffers in the pool.").add(&[], f64::from(r.pool_size)).0.clone());

        let c = &self.control;
        for (name, help, v) in [
            ("roagent_nd_received_total", "Neighbor Discovery messages received.", &c.nd_received),
            ("roagent_nd_invalid_total", "Neighbor Discovery messages failing RFC 4861 validation.", &c.nd_invalid),
            ("roagent_neighbor_advertisements_sent_total", "Neighbor Advertisements sent for the MAG's addresses.", &c.na_sent),
            ("roagent_neighbor_solicitations_sent_total", "Neighbor Solicitations sent to resolve next hops.", &c.ns_sent),
            ("roagent_neighbors_learned_total", "Link-layer addresses learned or changed.", &c.neighbors_learned),
            ("roagent_echo_replies_sent_total", "Echo replies to pings of the MAG.", &c.echo_replies),
            ("roagent_icmpv6_errors_suppressed_total", "ICMPv6 errors not sent because RFC 4443 §2.4(e) forbids them.", &c.icmp_not_allowed),
            ("roagent_held_packets_total", "Packets held while their next hop was resolved.", &c.held),
            ("roagent_held_packets_sent_total", "Held packets sent after resolution.", &c.held_sent),
            ("roagent_neighbor_probes_sent_total", "Unicast Neighbor Solicitations probing a known neighbor (RFC 4861 §7.3.3).", &c.probes_sent),
            ("roagent_inject_ring_full_total", "Control-core packets dropped because a worker's inject ring was full.", &c.inject_full),
            ("roagent_mbuf_alloc_failed_total", "Control-core packets not sent for lack of an mbuf.", &c.no_mbuf),
            ("roagent_control_unhandled_total", "Punted packets the control core had no use for.", &c.unhandled),
        ] {
            out.push(counter(name, help).add(&[], v.get() as f64).0.clone());
        }
        let mut f = counter("roagent_held_packets_dropped_total", "Held packets dropped, by reason (a cap, or no answer).");
        for d in crate::counters::HeldDrop::ALL {
            f.add(&[("reason", d.label())], c.held_dropped(d).get() as f64);
        }
        out.push(f.0);
        let mut f = counter("roagent_neighbors_forgotten_total", "Neighbors forgotten, by reason (probes or resolution unanswered).");
        f.add(&[("reason", "unreachable")], c.forgotten_unreachable.get() as f64);
        f.add(&[("reason", "unresolved")], c.forgotten_unresolved.get() as f64);
        out.push(f.0);
        let mut f = counter("roagent_nd_refused_total", "ND messages whose link-layer address was not taken (RFC 4861 §7.2.5), by reason.");
        for r in crate::counters::NdRefused::ALL {
            f.add(&[("reason", r.label())], c.nd_refused(r).get() as f64);
        }
        out.push(f.0);
        let mut f = gauge("roagent_neighbors", "Neighbor entries by state (RFC 4861 §7.3.2; permanent: configured MACs).");
        for (s, g) in crate::neighbors::State::COUNTED.iter().zip(&c.neighbor_states) {
            f.add(&[("state", s.label())], g.get() as f64);
        }
        out.push(f.0);
        let mut f = counter("roagent_neighbor_mac_mismatch_total", "Frames from a known neighbor with another source MAC, not learned (ND changes it).");
        for (q, w) in self.workers.iter().enumerate() {
            f.add(&[("queue", &queues[q])], w.neighbor_mac_mismatch.get() as f64);
        }
        out.push(f.0);
        let a = &self.agent;
        let mut f = counter("roagent_icmpv6_errors_sent_total", "ICMPv6 errors sent, by type.");
        f.add(&[("type", "time_exceeded")], c.time_exceeded_sent.get() as f64);
        f.add(&[("type", "packet_too_big")], c.packet_too_big_sent.get() as f64);
        f.add(&[("type", "parameter_problem")], a.parameter_problems.get() as f64);
        out.push(f.0);
        let mut f = counter("roagent_rate_limited_total", "Replies the MAG did not send because of a rate limit, by kind.");
        f.add(&[("kind", "icmpv6")], c.icmp_rate_limited.get() as f64);
        f.add(&[("kind", "signaling")], a.dropped(DropReason::RateLimited).get() as f64);
        f.add(&[("kind", "neighbor_advertisement")], c.na_rate_limited.get() as f64);
        out.push(f.0);

        let mut rx = counter("roagent_signaling_received_total", "Mobility Header messages received for attached nodes, by type.");
        let mut tx = counter("roagent_signaling_sent_total", "Mobility Header messages sent on behalf of attached nodes, by type.");
        for (i, t) in MH_TYPES.iter().enumerate() {
            rx.add(&[("type", t)], a.received[i].get() as f64);
            tx.add(&[("type", t)], a.sent[i].get() as f64);
        }
        out.push(rx.0);
        out.push(tx.0);
        let mut f = counter("roagent_binding_acks_sent_total", "Binding Acknowledgements sent, by status (RFC 6275 §6.1.8).");
        for s in BA_STATUSES {
            f.add(&[("status", &s.to_string())], a.ba_status[s as usize].get() as f64);
        }
        out.push(f.0);
        let mut f = counter("roagent_binding_errors_sent_total", "Binding Errors sent, by status (RFC 6275 §6.1.9).");
        f.add(&[("status", "1")], a.be_unknown_binding.get() as f64);
        f.add(&[("status", "2")], a.be_unrecognized_type.get() as f64);
        out.push(f.0);
        let mut f = counter("roagent_signaling_dropped_total", "Mobility Header messages dropped without an answer, by reason.");
        for d in DropReason::ALL {
            f.add(&[("reason", d.name())], a.dropped(d).get() as f64);
        }
        out.push(f.0);
        out.push(gauge("roagent_bindings", "Bindings in the cache.").add(&[], a.bindings.get() as f64).0.clone());
        for (name, help, v) in [
            ("roagent_bindings_created_total", "Bindings created.", &a.bindings_created),
            ("roagent_bindings_refreshed_total", "Bindings refreshed by a new Binding Update.", &a.bindings_refreshed),
            ("roagent_binding_table_full_total", "Bindings the fast-path table could not take.", &a.table_full),
            ("roagent_home_address_unverified_total", "Packets with a Home Address option and no matching binding (RFC 6275 §9.3.1).", &a.hao_unverified),
            ("roagent_nonce_rotations_total", "New nonces (and Kcn) generated (RFC 6275 §5.2.7).", &a.nonce_rotations),
        ] {
            out.push(counter(name, help).add(&[], v.get() as f64).0.clone());
        }
        let mut f = counter("roagent_bindings_deleted_total", "Bindings deleted, by reason.");
        for (r, label) in DELETE_REASONS {
            f.add(&[("reason", label)], a.deleted(r).get() as f64);
        }
        out.push(f.0);
        pmip_families(&self.pmip.counters, &mut out);
        http_families(&self.http, &mut out);
        out
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.render_with(&self.dpdk.as_ref().map(DpdkSources::read).unwrap_or_default())
    }

    /// [`Sources::render`] with DPDK's counters as read in `r`.
    pub fn render_with(&self, r: &Readings) -> String {
        let mut buf = Vec::new();
        // Encoding our own families into a Vec cannot fail.
        // The encoder stops at a family without series (no rings without workers): skip those.
        let mut families = self.families(r);
        families.retain(|f| !f.get_metric().is_empty());
        let _ = TextEncoder::new().encode(&families, &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// `/mobiles`: the mobile nodes (PMIPv6), `[]` in static mode.
    pub fn mobiles_json(&self) -> String {
        let rows = mobiles_view::rows(&self.pmip.mobiles, &self.bindings, Instant::now());
        serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
    }

    pub fn bindings_json(&self) -> String {
        serde_json::to_string_pretty(&bindings_view::rows(&self.bindings, Instant::now())).unwrap_or_else(|_| "[]".into())
    }
}

/// The HTTP endpoint's series: what it answered, and every bound it enforced (`http.rs`).
fn http_families(c: &HttpCounters, out: &mut Vec<MetricFamily>) {
    let mut f = counter("roagent_http_requests_total", "GET requests answered by the HTTP endpoint, by path (other: 404).");
    for (i, p) in HTTP_PATHS.iter().enumerate() {
        f.add(&[("path", p)], c.requests[i].get() as f64);
    }
    out.push(f.0);
    let mut f = counter("roagent_http_refused_total", "HTTP connections closed or requests refused by a bound, by reason.");
    for r in HttpRefusal::ALL {
        f.add(&[("reason", r.name())], c.refused(r).get() as f64);
    }
    out.push(f.0);
    out.push(counter("roagent_http_connections_accepted_total", "HTTP connections accepted.").add(&[], c.connections_accepted.get() as f64).0.clone());
    out.push(gauge("roagent_http_connections", "HTTP connections open.").add(&[], c.connections_open.get() as f64).0.clone());
    out.push(
        counter("roagent_http_idle_closed_total", "Keep-alive HTTP connections closed with no new request by the head deadline.")
            .add(&[], c.idle_closed.get() as f64)
            .0
            .clone(),
    );
}

/// The PMIPv6 signaling's series (RFC 5213).
fn pmip_families(c: &PmipCounters, out: &mut Vec<MetricFamily>) {
    let mut f = counter("roagent_pbu_sent_total", "Proxy Binding Updates sent, by kind.");
    for k in mag::PbuKind::ALL {
        f.add(&[("kind", k.name())], c.pbu_sent[k as usize].get() as f64);
    }
    out.push(f.0);
    let mut f = counter("roagent_pba_received_total", "Proxy Binding Acknowledgements received, by status (RFC 5213 §8.9).");
    for (st, v) in c.pba_received.iter().enumerate() {
        if st == 0 || v.get() > 0 {
            f.add(&[("status", &st.to_string())], v.get() as f64);
        }
    }
    out.push(f.0);
    let mut f = gauge("roagent_mobile_nodes", "Mobile nodes of the policy heard from, by registration state.");
    for st in mag::MnState::ALL {
        f.add(&[("state", st.name())], c.mobile_nodes[st as usize].get() as f64);
    }
    out.push(f.0);
    let mut f = counter("roagent_registration_failures_total", "Registrations that failed, by reason.");
    for (i, r) in mag::FailReason::NAMES.iter().enumerate() {
        f.add(&[("reason", r)], c.failures[i].get() as f64);
    }
    out.push(f.0);
    let mut f = counter("roagent_pmip_dropped_total", "PMIPv6 inputs dropped (unmatched, stale or absurd PBAs, unknown MACs), by reason.");
    for (i, d) in mag::DropReason::ALL.iter().enumerate() {
        f.add(&[("reason", d.name())], c.dropped[i].get() as f64);
    }
    f.add(&[("reason", "bad_checksum")], c.bad_checksum.get() as f64);
    f.add(&[("reason", "not_pba")], c.not_pba.get() as f64);
    f.add(&[("reason", "nd_from_unknown_mac")], c.unknown_mac.get() as f64);
    out.push(f.0);
    for (name, help, v) in [
        ("roagent_registrations_total", "Registrations the LMA accepted.", &c.registrations),
        ("roagent_registration_refreshes_total", "Refreshes the LMA accepted.", &c.refreshes),
        ("roagent_deregistrations_total", "Mobile nodes detached and deregistered.", &c.deregistrations),
        ("roagent_router_advertisements_sent_total", "Unicast Router Advertisements sent to mobile nodes.", &c.ra_sent),
        ("roagent_nud_probes_sent_total", "NUD probes sent to idle mobile nodes.", &c.probes_sent),
        ("roagent_pbu_not_sent_total", "PBUs that could not be sent (no buffer).", &c.pbu_not_sent),
        ("roagent_routes_refused_total", "Home network prefixes the workers' attached-node table refused.", &c.route_refused),
        ("roagent_prefixes_unused_total", "Home network prefixes granted beyond the one per mobile node that is routed (not advertised).", &c.prefixes_unused),
    ] {
        out.push(counter(name, help).add(&[], v.get() as f64).0.clone());
    }
}

/// `GET path` from an HTTP server at `addr`; the body, or an error naming what failed.
pub fn http_get(addr: &str, path: &str) -> Result<String, Error> {
    let admin = |problem: String| Error::Admin { addr: addr.to_string(), problem };
    use std::io::Read;
    let mut conn = TcpStream::connect(addr).map_err(|e| admin(format!("cannot connect: {e}")))?;
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").map_err(|e| admin(e.to_string()))?;
    let mut resp = String::new();
    conn.read_to_string(&mut resp).map_err(|e| admin(e.to_string()))?;
    let (head, body) = resp.split_once("\r\n\r\n").ok_or_else(|| admin("not an HTTP response".into()))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(admin(format!("{path}: {}", head.lines().next().unwrap_or(""))));
    }
    Ok(body.to_string())
}

/// `roagent mobiles`: the mobile nodes as a table.
pub fn print_mobiles(addr: &str) -> Result<(), Error> {
    let body = http_get(addr, "/mobiles")?;
    let rows: Vec<MobileJson> = serde_json::from_str(&body).map_err(|e| Error::Admin { addr: addr.to_string(), problem: format!("/mobiles: {e}") })?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{:<28} {:<17} {:<24} {:<20} {:<12} {:>8} {:>3}", "MN-ID", "MAC", "HOME NETWORK PREFIX", "LMA", "STATE", "LIFETIME", "RO");
    for r in &rows {
        let left = r.lifetime_left_s.map_or("-".to_string(), |s| format!("{s}s"));
        let _ = writeln!(
            out,
            "{:<28} {:<17} {:<24} {:<20} {:<12} {:>8} {:>3}",
            r.mn_id,
            r.mac,
            r.home_network_prefix.as_deref().unwrap_or("-"),
            r.lma.to_string(),
            r.state,
            left,
            r.ro_bindings
        );
    }
    let _ = writeln!(out, "{} mobile node(s)", rows.len());
    Ok(())
}

/// `roagent bindings`: the live binding cache as a table.
pub fn print_bindings(addr: &str) -> Result<(), Error> {
    let body = http_get(addr, "/bindings")?;
    let rows: Vec<BindingJson> = serde_json::from_str(&body).map_err(|e| Error::Admin { addr: addr.to_string(), problem: format!("/bindings: {e}") })?;
    let mut out = std::io::stdout().lock();
    // Address columns as wide as their longest entry (an IPv6 address takes up to 39).
    let cells: Vec<[String; 3]> = rows.iter().map(|r| [r.home_address.to_string(), r.care_of_address.to_string(), r.attached_address.to_string()]).collect();
    let w = |i: usize, title: &str| cells.iter().map(|c| c[i].len()).chain([title.len(), 15]).max().unwrap_or(15);
    let (wh, wc, wa) = (w(0, "HOME ADDRESS"), w(1, "CARE-OF ADDRESS"), w(2, "ATTACHED NODE"));
    let _ = writeln!(
        out,
        "{:<wh$} {:<wc$} {:<wa$} {:<12} {:>8} {:>8} {:>5}",
        "HOME ADDRESS", "CARE-OF ADDRESS", "ATTACHED NODE", "NAME", "LIFETIME", "SEQUENCE", "AGENT"
    );
    for (r, [home, care_of, attached]) in rows.iter().zip(&cells) {
        let _ = writeln!(
            out,
            "{home:<wh$} {care_of:<wc$} {attached:<wa$} {:<12} {:>7}s {:>8} {:>5}",
            r.attached_node,
            r.lifetime_left_s,
            r.sequence,
            if r.agent { "yes" } else { "no" }
        );
    }
    let _ = writeln!(out, "{} binding(s)", rows.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings_view::BindingEntry;
    use std::net::Ipv6Addr;

    fn sources(workers: usize) -> Sources {
        Sources {
            workers: (0..workers).map(|_| Arc::new(WorkerCounters::default())).collect(),
            lcores: (1..=workers as u32).collect(),
            control: Arc::default(),
            agent: Arc::default(),
            bindings: Arc::default(),
            tsc_hz: 2_000_000_000,
            dpdk: None,
            pmip: PmipSources::default(),
            http: Arc::default(),
        }
    }

    /// The value of the series `name{labels}` (labels as rendered, in order).
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).map(|v| v.parse().unwrap()))
    }

    #[test]
    fn worker_counters_are_per_queue_and_drops_have_every_reason_on_both_ports() {
        let s = sources(2);
        s.workers[0].rx_packets[Role::Access].add(5);
        s.workers[1].rx_packets[Role::Access].add(7);
        s.workers[1].dropped(Role::Core, Drop::UnknownLma);
        let t = s.render();
        assert_eq!(value(&t, r#"roagent_port_rx_packets_total{port="access",queue="0"}"#), Some(5.0));
        assert_eq!(value(&t, r#"roagent_port_rx_packets_total{port="access",queue="1"}"#), Some(7.0));
        assert_eq!(value(&t, r#"roagent_dropped_packets_total{port="core",queue="1",reason="unknown_lma"}"#), Some(1.0));
        for role in Role::ALL {
            for d in Drop::ALL {
                for q in 0..2 {
                    let series = format!(r#"roagent_dropped_packets_total{{port="{role}",queue="{q}",reason="{}"}}"#, d.label());
                    assert!(value(&t, &series).is_some(), "{series}");
                }
            }
        }
    }

    #[test]
    fn pmipv6_series_are_exported_in_static_mode_too() {
        let s = sources(1);
        let t = s.render();
        assert_eq!(value(&t, r#"roagent_pbu_sent_total{kind="initial"}"#), Some(0.0));
        assert_eq!(value(&t, r#"roagent_mobile_nodes{state="registered"}"#), Some(0.0));
        s.pmip.counters.pba_received[153].inc();
        assert_eq!(value(&s.render(), r#"roagent_pba_received_total{status="153"}"#), Some(1.0));
        assert_eq!(s.mobiles_json(), "[]");
    }

    #[test]
    fn http_series_have_every_path_and_refusal_reason() {
        let s = sources(1);
        s.http.refused(HttpRefusal::HeadTimeout).add(3);
        s.http.requests[0].inc();
        let t = s.render();
        assert_eq!(value(&t, r#"roagent_http_refused_total{reason="head_timeout"}"#), Some(3.0));
        assert_eq!(value(&t, r#"roagent_http_requests_total{path="/metrics"}"#), Some(1.0));
        for r in HttpRefusal::ALL {
            assert!(value(&t, &format!(r#"roagent_http_refused_total{{reason="{}"}}"#, r.name())).is_some(), "{r:?}");
        }
        for p in HTTP_PATHS {
            assert!(value(&t, &format!(r#"roagent_http_requests_total{{path="{p}"}}"#)).is_some(), "{p}");
        }
        assert_eq!(value(&t, "roagent_http_connections"), Some(0.0));
    }

    #[test]
    fn dpdk_readings_are_rendered_by_port_and_ring() {
        let s = sources(1);
        let mut r = Readings { rings: vec![(3, 4)], pool_in_use: 10, pool_size: 8191, link_up: [Some(true), Some(false)], ..Default::default() };
        r.ports[Role::Core].imissed = 9;
        let t = s.render_with(&r);
        assert_eq!(value(&t, r#"roagent_port_link_up{port="access"}"#), Some(1.0));
        assert_eq!(value(&t, r#"roagent_port_link_up{port="core"}"#), Some(0.0));
        assert_eq!(value(&t, r#"roagent_port_driver_rx_missed_total{port="core"}"#), Some(9.0));
        assert_eq!(value(&t, r#"roagent_ring_occupancy{ring="inject",queue="0"}"#), Some(4.0));
        assert_eq!(value(&t, "roagent_mempool_in_use"), Some(10.0));
    }

    #[test]
    fn agent_counters_are_labelled_by_status_type_and_reason() {
        let s = sources(1);
        let a = &s.agent;
        a.ba_status[135].inc();
        a.be_unrecognized_type.add(2);
        a.sent[crate::counters::mh_slot(wire::mobility::mh_type::HOME_TEST)].inc();
        a.dropped(DropReason::RateLimited).add(4);
        a.deleted(reflector::DeleteReason::Expired).inc();
        s.control.icmp_rate_limited.add(6);
        let t = s.render();
        assert_eq!(value(&t, r#"roagent_binding_acks_sent_total{status="135"}"#), Some(1.0));
        assert_eq!(value(&t, r#"roagent_binding_acks_sent_total{status="0"}"#), Some(0.0));
        assert_eq!(value(&t, r#"roagent_binding_errors_sent_total{status="2"}"#), Some(2.0));
        assert_eq!(value(&t, r#"roagent_signaling_sent_total{type="home_test"}"#), Some(1.0));
        assert_eq!(value(&t, r#"roagent_signaling_dropped_total{reason="rate_limited"}"#), Some(4.0));
        assert_eq!(value(&t, r#"roagent_rate_limited_total{kind="signaling"}"#), Some(4.0));
        assert_eq!(value(&t, r#"roagent_rate_limited_total{kind="icmpv6"}"#), Some(6.0));
        assert_eq!(value(&t, r#"roagent_bindings_deleted_total{reason="expired"}"#), Some(1.0));
        assert_eq!(value(&t, r#"roagent_bindings_deleted_total{reason="detached"}"#), Some(0.0));
    }

    #[test]
    fn the_bindings_view_is_served_sorted_with_the_lifetime_left() {
        let s = sources(1);
        let now = Instant::now();
        for (home, attached, left) in [("2001:db8:1::2", "2001:db8:3::9", 100), ("2001:db8:1::1", "2001:db8:3::1", 30)] {
            let (home, attached): (Ipv6Addr, Ipv6Addr) = (home.parse().unwrap(), attached.parse().unwrap());
            let e = BindingEntry {
                home,
                care_of: "2001:db8:2::1".parse().unwrap(),
                attached,
                node: "mn2".into(),
                expires: now + Duration::from_secs(left),
                seq: 3,
                agent: true,
                refreshed: 0,
            };
            s.bindings.insert((home, attached), e);
        }
        let rows: Vec<BindingJson> = serde_json::from_str(&s.bindings_json()).unwrap();
        assert_eq!(rows.iter().map(|r| r.attached_address.to_string()).collect::<Vec<_>>(), ["2001:db8:3::1", "2001:db8:3::9"]);
        assert!((28..=30).contains(&rows[0].lifetime_left_s));
        assert_eq!(rows[1].sequence, 3);
    }
}
