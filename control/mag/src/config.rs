//! MAG signaling settings and the protocol constants they default to.

use core::net::Ipv6Addr;
use std::time::Duration;

/// RFC 6275 §12, applied to Proxy Binding Updates by RFC 5213 §6.9.4.
pub const INITIAL_BINDACK_TIMEOUT: Duration = Duration::from_secs(1);
/// RFC 6275 §12: the retransmission timeout stops doubling here.
pub const MAX_BINDACK_TIMEOUT: Duration = Duration::from_secs(32);
/// RFC 4861 §10: unicast Neighbor Solicitations before a neighbor is declared unreachable.
pub const MAX_UNICAST_SOLICIT: u8 = 3;
/// RFC 4861 §10: time between them.
pub const RETRANS_TIMER: Duration = Duration::from_secs(1);
/// RFC 4861 §6.2.1: default MaxRtrAdvInterval.
pub const MAX_RTR_ADV_INTERVAL: Duration = Duration::from_secs(600);

/// MAG settings. Every field has a default (see [`Config::default`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The MAG's link-local address on the access link, sent in the Link-local Address option
    /// and used as the RAs' source by the caller. Every MAG of a domain presents the same one
    /// (RFC 5213 §6.8), so it is configured, never asked of the LMA.
    pub access_link_local: Ipv6Addr,
    /// Binding lifetime asked for in every PBU (rounded up to 4 s units, RFC 6275 §6.1.7).
    pub lifetime: Duration,
    /// First retransmission timeout of a PBU (RFC 6275 §11.8), doubled on each retry...
    pub initial_bindack_timeout: Duration,
    /// ...up to this.
    pub max_bindack_timeout: Duration,
    /// Transmissions of an initial PBU (the first one included) before giving up. With the
    /// defaults, 8 transmissions are 1, 2, 4, 8, 16, 32, 32 s apart and the MAG gives up
    /// 32 s after the last one, 127 s after the first.
    pub max_transmissions: u32,
    /// Transmissions of a deregistration PBU before the MAG forgets the binding anyway.
    pub max_dereg_transmissions: u32,
    /// After giving up on an unanswered registration, frames from the MN do not start a new
    /// one for this long (RFC 6275 §11.8's slowest rate is one PBU per MAX_BINDACK_TIMEOUT).
    pub no_response_holdoff: Duration,
    /// After a rejection (status ≥ 128), frames from the MN do not start a new registration
    /// for this long: the MN stays offline.
    pub rejected_holdoff: Duration,
    /// A refresh is sent `max(lifetime / 5, min(refresh_min_lead, lifetime / 2))` before the
    /// granted lifetime runs out, so its retransmissions fit before the binding expires.
    pub refresh_min_lead: Duration,
    /// A registered MN silent this long gets NUD probes.
    pub idle_timeout: Duration,
    /// Probes (unicast Neighbor Solicitations) before the MN is declared detached.
    pub probes: u8,
    /// Time between probes, and from the last probe to the detach.
    pub probe_interval: Duration,
    /// Unsolicited unicast Router Advertisements to each registered MN this often (one is
    /// also sent on acceptance and after every refresh, so a short lifetime never lapses).
    pub ra_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            access_link_local: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            lifetime: Duration::from_secs(600),
            initial_bindack_timeout: INITIAL_BINDACK_TIMEOUT,
            max_bindack_timeout: MAX_BINDACK_TIMEOUT,
            max_transmissions: 8,
            max_dereg_transmissions: 3,
            no_response_holdoff: MAX_BINDACK_TIMEOUT,
            rejected_holdoff: Duration::from_secs(60),
            refresh_min_lead: Duration::from_secs(10),
            // 30 s idle + 3 probes 1 s apart + 1 s: detach 33 s after the last frame, within
            // 40 s even when each of the four steps runs a control-loop tick late.
            idle_timeout: Duration::from_secs(30),
            probes: MAX_UNICAST_SOLICIT,
            probe_interval: RETRANS_TIMER,
            ra_interval: MAX_RTR_ADV_INTERVAL,
        }
    }
}

/// No timer of ours is shorter: a zero interval would make a tick loop on one MN forever.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

impl Config {
    /// The same settings with every interval at least 1 ms and every count at least 1.
    pub(crate) fn sanitized(mut self) -> Config {
        for d in [&mut self.initial_bindack_timeout, &mut self.max_bindack_timeout, &mut self.idle_timeout, &mut self.probe_interval, &mut self.ra_interval] {
            *d = (*d).max(MIN_INTERVAL);
        }
        self.max_bindack_timeout = self.max_bindack_timeout.max(self.initial_bindack_timeout);
        self.max_transmissions = self.max_transmissions.max(1);
        self.max_dereg_transmissions = self.max_dereg_transmissions.max(1);
        self
    }

    /// The lifetime field of a PBU, in 4 s units (RFC 6275 §6.1.7), at least 1.
    pub fn lifetime_units(&self) -> u16 {
        let units = self.lifetime.as_secs().div_ceil(4).max(1);
        u16::try_from(units).unwrap_or(u16::MAX)
    }

    /// How long before the end of a granted lifetime its refresh is sent.
    pub fn refresh_lead(&self, granted: Duration) -> Duration {
        (granted / 5).max(self.refresh_min_lead.min(granted / 2))
    }
}
