//! Proxy Mobile IPv6 signaling (RFC 5213 §8): the Proxy Binding Update, the Proxy Binding
//! Acknowledgement and the mobility options they carry.
//!
//! A PBU is a Binding Update (MH type 5) and a PBA a Binding Acknowledgement (MH type 6),
//! both with the P flag; the fixed fields, Pad1/PadN and the option walk are
//! [`crate::mobility`]'s. Emission uses one canonical layout: MN Identifier, Home Network
//! Prefix(es), Handoff Indicator, Access Technology Type, MN Link-layer Identifier,
//! Link-local Address, Timestamp, each at its alignment ([`alignment`]), then padding to a
//! multiple of 8 octets. Parsing accepts any order and any alignment (RFC 6275 §6.2: the
//! alignment rules bind senders) and skips unknown options (§6.2.1).
//!
//! Neither `parse` checks the checksum: it needs the addresses, so callers run
//! [`mobility::verify_checksum`] first and [`mobility::fill_checksum`] after `to_bytes`.

use core::net::Ipv6Addr;
use std::time::Duration;

use crate::mobility::{self, field, mh_type, MobilityOption, OptionAt, OptionWriter, Options, PAYLOAD_PROTO_NONE};
use crate::{Error, Result};

const LAYER: &str = "pmip";
const OPT_LAYER: &str = "pmip option";

/// Mobility option types of RFC 4283 and RFC 5213 §8.3–8.8 (IANA).
pub mod option_type {
    pub const MN_ID: u8 = 8;
    pub const HOME_NETWORK_PREFIX: u8 = 22;
    pub const HANDOFF_INDICATOR: u8 = 23;
    pub const ACCESS_TECHNOLOGY: u8 = 24;
    pub const MN_LINK_LAYER_ID: u8 = 25;
    pub const LINK_LOCAL_ADDRESS: u8 = 26;
    pub const TIMESTAMP: u8 = 27;
}

/// Mobile Node Identifier subtypes (RFC 4283 §3).
pub mod mn_id_subtype {
    /// Network Access Identifier (RFC 4282).
    pub const NAI: u8 = 1;
}

/// Handoff Indicator values (RFC 5213 §8.4).
pub mod handoff {
    /// Attachment over a new interface.
    pub const NEW_ATTACHMENT: u8 = 1;
    /// Handoff between two different interfaces of the mobile node.
    pub const BETWEEN_INTERFACES: u8 = 2;
    /// Handoff between mobile access gateways for the same interface.
    pub const BETWEEN_MAGS: u8 = 3;
    /// Handoff state unknown.
    pub const STATE_UNKNOWN: u8 = 4;
    /// Handoff state not changed (re-registration).
    pub const REREGISTRATION: u8 = 5;
}

/// Access Technology Type values (RFC 5213 §8.5; 0 is reserved).
pub mod access_technology {
    /// "Logical Network Interface".
    pub const VIRTUAL: u8 = 1;
    pub const PPP: u8 = 2;
    /// Ethernet.
    pub const IEEE_802_3: u8 = 3;
    /// Wireless LAN (802.11a/b/g).
    pub const IEEE_802_11: u8 = 4;
    /// WiMAX.
    pub const IEEE_802_16E: u8 = 5;
}

/// PBA status values. Below 128 the PBU was accepted (RFC 6275 §6.1.8).
pub mod status {
    pub const ACCEPTED: u8 = 0;
    // RFC 6275 §6.1.8. RFC 5213 §5.3 uses 128–130 and 135 (sequence-number mode of §5.5);
    // 131–134 and 136–139 are home-agent and correspondent answers, named so a PBA that
    // carries one anyway is logged readably.
    pub const REASON_UNSPECIFIED: u8 = 128;
    pub const ADMINISTRATIVELY_PROHIBITED: u8 = 129;
    pub const INSUFFICIENT_RESOURCES: u8 = 130;
    pub const HOME_REGISTRATION_NOT_SUPPORTED: u8 = 131;
    pub const NOT_HOME_SUBNET: u8 = 132;
    pub const NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE: u8 = 133;
    pub const DUPLICATE_ADDRESS_DETECTION_FAILED: u8 = 134;
    pub const SEQUENCE_NUMBER_OUT_OF_WINDOW: u8 = 135;
    pub const EXPIRED_HOME_NONCE_INDEX: u8 = 136;
    pub const EXPIRED_CARE_OF_NONCE_INDEX: u8 = 137;
    pub const EXPIRED_NONCES: u8 = 138;
    pub const REGISTRATION_TYPE_CHANGE_DISALLOWED: u8 = 139;
    // RFC 5213 §8.9. (151 is RFC 5149's SERVICE_AUTHORIZATION_FAILED, not PMIPv6's.)
    pub const PROXY_REG_NOT_ENABLED: u8 = 152;
    pub const NOT_LMA_FOR_THIS_MOBILE_NODE: u8 = 153;
    pub const MAG_NOT_AUTHORIZED_FOR_PROXY_REG: u8 = 154;
    pub const NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX: u8 = 155;
    pub const TIMESTAMP_MISMATCH: u8 = 156;
    pub const TIMESTAMP_LOWER_THAN_PREV_ACCEPTED: u8 = 157;
    pub const MISSING_HOME_NETWORK_PREFIX_OPTION: u8 = 158;
    pub const BCE_PBU_PREFIX_SET_DO_NOT_MATCH: u8 = 159;
    pub const MISSING_MN_IDENTIFIER_OPTION: u8 = 160;
    pub const MISSING_HANDOFF_INDICATOR_OPTION: u8 = 161;
    pub const MISSING_ACCESS_TECH_TYPE_OPTION: u8 = 162;
}

/// The RFC's name of a status (RFC 5213 §8.9 names as written; RFC 6275 §6.1.8
/// descriptions in the same upper-case form), "UNKNOWN" otherwise. Stable: metric label.
pub fn status_name(status: u8) -> &'static str {
    use status::*;
    match status {
        ACCEPTED => "ACCEPTED",
        REASON_UNSPECIFIED => "REASON_UNSPECIFIED",
        ADMINISTRATIVELY_PROHIBITED => "ADMINISTRATIVELY_PROHIBITED",
        INSUFFICIENT_RESOURCES => "INSUFFICIENT_RESOURCES",
        HOME_REGISTRATION_NOT_SUPPORTED => "HOME_REGISTRATION_NOT_SUPPORTED",
        NOT_HOME_SUBNET => "NOT_HOME_SUBNET",
        NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE => "NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE",
        DUPLICATE_ADDRESS_DETECTION_FAILED => "DUPLICATE_ADDRESS_DETECTION_FAILED",
        SEQUENCE_NUMBER_OUT_OF_WINDOW => "SEQUENCE_NUMBER_OUT_OF_WINDOW",
        EXPIRED_HOME_NONCE_INDEX => "EXPIRED_HOME_NONCE_INDEX",
        EXPIRED_CARE_OF_NONCE_INDEX => "EXPIRED_CARE_OF_NONCE_INDEX",
        EXPIRED_NONCES => "EXPIRED_NONCES",
        REGISTRATION_TYPE_CHANGE_DISALLOWED => "REGISTRATION_TYPE_CHANGE_DISALLOWED",
        PROXY_REG_NOT_ENABLED => "PROXY_REG_NOT_ENABLED",
        NOT_LMA_FOR_THIS_MOBILE_NODE => "NOT_LMA_FOR_THIS_MOBILE_NODE",
        MAG_NOT_AUTHORIZED_FOR_PROXY_REG => "MAG_NOT_AUTHORIZED_FOR_PROXY_REG",
        NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX => "NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX",
        TIMESTAMP_MISMATCH => "TIMESTAMP_MISMATCH",
        TIMESTAMP_LOWER_THAN_PREV_ACCEPTED => "TIMESTAMP_LOWER_THAN_PREV_ACCEPTED",
        MISSING_HOME_NETWORK_PREFIX_OPTION => "MISSING_HOME_NETWORK_PREFIX_OPTION",
        BCE_PBU_PREFIX_SET_DO_NOT_MATCH => "BCE_PBU_PREFIX_SET_DO_NOT_MATCH",
        MISSING_MN_IDENTIFIER_OPTION => "MISSING_MN_IDENTIFIER_OPTION",
        MISSING_HANDOFF_INDICATOR_OPTION => "MISSING_HANDOFF_INDICATOR_OPTION",
        MISSING_ACCESS_TECH_TYPE_OPTION => "MISSING_ACCESS_TECH_TYPE_OPTION",
        _ => "UNKNOWN",
    }
}

/// PBU flags (RFC 5213 §8.1: A|H|L|K|M|R|P), in the 16-bit word at offset 8.
pub mod pbu_flags {
    pub const ACK: u16 = 0x8000;
    pub const HOME_REGISTRATION: u16 = 0x4000;
    pub const LINK_LOCAL: u16 = 0x2000;
    pub const KEY_MANAGEMENT: u16 = 0x1000;
    /// RFC 5380 MAP registration.
    pub const MAP: u16 = 0x0800;
    /// RFC 3963 mobile router.
    pub const MOBILE_ROUTER: u16 = 0x0400;
    pub const PROXY: u16 = 0x0200;
}

/// PBA flags (RFC 5213 §8.2: K|R|P), in the byte at offset 7.
pub mod pba_flags {
    pub const KEY_MANAGEMENT: u8 = 0x80;
    /// RFC 3963 mobile router.
    pub const MOBILE_ROUTER: u8 = 0x40;
    pub const PROXY: u8 = 0x20;
}

/// Where each option's type byte goes on emit, as `(x, y)` for "xn+y" from the start of the
/// Mobility Header (RFC 6275 §6.2); `(1, 0)` is "no alignment requirement".
pub mod alignment {
    /// RFC 4283 §3: "This option does not have any alignment requirements."
    pub const MN_ID: (usize, usize) = (1, 0);
    /// RFC 5213 §8.3: 8n+4 (the prefix lands on an 8-octet boundary).
    pub const HOME_NETWORK_PREFIX: (usize, usize) = (8, 4);
    /// RFC 5213 §8.4: none.
    pub const HANDOFF_INDICATOR: (usize, usize) = (1, 0);
    /// RFC 5213 §8.5: none.
    pub const ACCESS_TECHNOLOGY: (usize, usize) = (1, 0);
    /// RFC 5213 §8.6 gives no fixed value ("aligned appropriately" for the identifier's
    /// size); its only multi-octet field is the 16-bit Reserved, so 2n is what is needed.
    /// 8n+2 satisfies that and is what this codec emits.
    pub const MN_LINK_LAYER_ID: (usize, usize) = (8, 2);
    /// RFC 5213 §8.7: 8n+6 (the address lands on an 8-octet boundary).
    pub const LINK_LOCAL_ADDRESS: (usize, usize) = (8, 6);
    /// RFC 5213 §8.8: 8n+2.
    pub const TIMESTAMP: (usize, usize) = (8, 2);
}

/// Option Length values the RFCs fix (data after type and length). HI and ATT are
/// `[Reserved, value]`, matched as two-byte arrays where they are parsed.
mod opt_len {
    pub const HOME_NETWORK_PREFIX: usize = 18; // Reserved, Prefix Length, prefix(16)
    pub const MN_LINK_LAYER_ID_RESERVED: usize = 2; // Reserved(16) before the identifier
    pub const LINK_LOCAL_ADDRESS: usize = 16;
    pub const TIMESTAMP: usize = 8;
}

/// Longest identifier the MN Identifier option can carry (8-bit length covers the subtype).
pub const MAX_MN_ID_LEN: usize = 254;
/// Longest identifier the MN Link-layer Identifier option can carry (after its Reserved).
pub const MAX_LINK_LAYER_ID_LEN: usize = 253;
/// Largest Mobility Header: Header Len is 8 bits of 8-octet units.
pub const MAX_MESSAGE_LEN: usize = 256 * 8;

/// Proxy Binding Update (RFC 5213 §8.1): a Binding Update (MH type 5) with the P flag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyBindingUpdate {
    pub seq: u16,
    pub ack: bool,               // A
    pub home_reg: bool,          // H
    pub link_local_compat: bool, // L
    pub proxy_reg: bool,         // P
    pub lifetime_units: u16,     // 4-second units; 0 deregisters
    pub options: PmipOptions,
}

/// Proxy Binding Acknowledgement (RFC 5213 §8.2): MH type 6 with the P flag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyBindingAck {
    pub status: u8,
    pub key_mgmt: bool,  // K
    pub router: bool,    // R
    pub proxy_reg: bool, // P
    pub seq: u16,
    pub lifetime_units: u16,
    pub options: PmipOptions,
}

/// The mobility options PBU and PBA carry (RFC 5213 §8.3–8.8, RFC 4283).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PmipOptions {
    /// Type 8, subtype 1 (NAI): the identifier after the subtype byte.
    pub mn_id: Option<Vec<u8>>,
    /// Type 22, one option each; `::/0` asks the LMA to assign one (§6.9.1.1).
    pub home_network_prefixes: Vec<(Ipv6Addr, u8)>,
    /// Type 23.
    pub handoff_indicator: Option<u8>,
    /// Type 24.
    pub access_technology: Option<u8>,
    /// Type 25: the identifier after the option's 16-bit Reserved field.
    pub mn_link_layer_id: Option<Vec<u8>>,
    /// Type 26.
    pub link_local_address: Option<Ipv6Addr>,
    /// Type 27: 48-bit seconds since 1970 and a 16-bit fraction (§8.8).
    pub timestamp: Option<u64>,
}

/// Current time in the Timestamp option's format (RFC 5213 §8.8): seconds since
/// 1970-01-01 00:00 UTC in the upper 48 bits, 1/65536 s in the lower 16.
pub fn timestamp_from_unix(d: Duration) -> u64 {
    let secs = d.as_secs() & 0xffff_ffff_ffff;
    let frac = (u64::from(d.subsec_nanos()) << 16) / 1_000_000_000;
    (secs << 16) | frac
}

/// The inverse of [`timestamp_from_unix`] (to the nearest 1/65536 s below).
pub fn timestamp_to_unix(ts: u64) -> Duration {
    let nanos = ((ts & 0xffff) * 1_000_000_000) >> 16;
    Duration::new(ts >> 16, nanos as u32)
}

fn malformed(what: &'static str) -> Error {
    Error::Malformed { layer: OPT_LAYER, what }
}

fn set_once<T>(slot: &mut Option<T>, value: T, what: &'static str) -> Result<()> {
    if slot.is_some() {
        return Err(malformed(what));
    }
    *slot = Some(value);
    Ok(())
}

/// One option ready to lay out: alignment, type, data after the length byte.
struct Encoded {
    align: (usize, usize),
    kind: u8,
    data: Vec<u8>,
}

impl PmipOptions {
    /// The options in canonical order, or an error if one cannot be encoded.
    fn encode(&self) -> Result<Vec<Encoded>> {
        let mut out = Vec::with_capacity(7 + self.home_network_prefixes.len());
        let mut push = |align, kind, data| out.push(Encoded { align, kind, data });
        if let Some(id) = &self.mn_id {
            if id.is_empty() || id.len() > MAX_MN_ID_LEN {
                return Err(malformed("mn identifier length"));
            }
            let mut d = Vec::with_capacity(1 + id.len());
            d.push(mn_id_subtype::NAI);
            d.extend_from_slice(id);
            push(alignment::MN_ID, option_type::MN_ID, d);
        }
        for (prefix, len) in &self.home_network_prefixes {
            if *len > 128 {
                return Err(malformed("home network prefix length"));
            }
            let mut d = Vec::with_capacity(opt_len::HOME_NETWORK_PREFIX);
            d.extend_from_slice(&[0, *len]);
            d.extend_from_slice(&prefix.octets());
            push(alignment::HOME_NETWORK_PREFIX, option_type::HOME_NETWORK_PREFIX, d);
        }
        if let Some(hi) = self.handoff_indicator {
            push(alignment::HANDOFF_INDICATOR, option_type::HANDOFF_INDICATOR, vec![0, hi]);
        }
        if let Some(att) = self.access_technology {
            push(alignment::ACCESS_TECHNOLOGY, option_type::ACCESS_TECHNOLOGY, vec![0, att]);
        }
        if let Some(ll) = &self.mn_link_layer_id {
            if ll.is_empty() || ll.len() > MAX_LINK_LAYER_ID_LEN {
                return Err(malformed("mn link-layer identifier length"));
            }
            let mut d = vec![0; opt_len::MN_LINK_LAYER_ID_RESERVED];
            d.extend_from_slice(ll);
            push(alignment::MN_LINK_LAYER_ID, option_type::MN_LINK_LAYER_ID, d);
        }
        if let Some(a) = self.link_local_address {
            let d = a.octets().to_vec();
            push(alignment::LINK_LOCAL_ADDRESS, option_type::LINK_LOCAL_ADDRESS, d);
        }
        if let Some(ts) = self.timestamp {
            push(alignment::TIMESTAMP, option_type::TIMESTAMP, ts.to_be_bytes().to_vec());
        }
        Ok(out)
    }

    /// Gathers the PMIPv6 options of the message `m` (exactly the Mobility Header).
    fn parse(m: &[u8]) -> Result<Self> {
        let mut o = PmipOptions::default();
        for item in Options::new(m, field::BU_OPTIONS) {
            let OptionAt { offset, option } = item?;
            // RFC 6275 options (padding, nonce indices, ...) mean nothing here: skipped.
            let MobilityOption::Unknown { kind, len } = option else { continue };
            // The walk checked offset + 2 + len <= m.len().
            let data = &m[offset + 2..offset + 2 + usize::from(len)];
            match kind {
                option_type::MN_ID => {
                    let [subtype, id @ ..] = data else {
                        return Err(malformed("mn identifier length"));
                    };
                    if *subtype != mn_id_subtype::NAI {
                        return Err(malformed("mn identifier subtype"));
                    }
                    if id.is_empty() {
                        return Err(malformed("mn identifier length"));
                    }
                    set_once(&mut o.mn_id, id.to_vec(), "duplicate mn identifier")?;
                }
                option_type::HOME_NETWORK_PREFIX => {
                    if data.len() != opt_len::HOME_NETWORK_PREFIX {
                        return Err(malformed("home network prefix option length"));
                    }
                    let plen = data[1];
                    if plen > 128 {
                        return Err(malformed("home network prefix length"));
                    }
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&data[2..18]);
                    o.home_network_prefixes.push((Ipv6Addr::from(a), plen));
                }
                option_type::HANDOFF_INDICATOR => {
                    let [_reserved, hi] = data else {
                        return Err(malformed("handoff indicator option length"));
                    };
                    set_once(&mut o.handoff_indicator, *hi, "duplicate handoff indicator")?;
                }
                option_type::ACCESS_TECHNOLOGY => {
                    let [_reserved, att] = data else {
                        return Err(malformed("access technology type option length"));
                    };
                    set_once(&mut o.access_technology, *att, "duplicate access technology type")?;
                }
                option_type::MN_LINK_LAYER_ID => {
                    if data.len() <= opt_len::MN_LINK_LAYER_ID_RESERVED {
                        return Err(malformed("mn link-layer identifier option length"));
                    }
                    let ll = data[opt_len::MN_LINK_LAYER_ID_RESERVED..].to_vec();
                    set_once(&mut o.mn_link_layer_id, ll, "duplicate mn link-layer identifier")?;
                }
                option_type::LINK_LOCAL_ADDRESS => {
                    let Ok(a) = <[u8; opt_len::LINK_LOCAL_ADDRESS]>::try_from(data) else {
                        return Err(malformed("link-local address option length"));
                    };
                    let a = Ipv6Addr::from(a);
                    set_once(&mut o.link_local_address, a, "duplicate link-local address")?;
                }
                option_type::TIMESTAMP => {
                    let Ok(t) = <[u8; opt_len::TIMESTAMP]>::try_from(data) else {
                        return Err(malformed("timestamp option length"));
                    };
                    set_once(&mut o.timestamp, u64::from_be_bytes(t), "duplicate timestamp")?;
                }
                // RFC 6275 §6.2.1: unknown options are skipped.
                _ => {}
            }
        }
        Ok(o)
    }
}

/// Lays out a PBU or PBA: fixed part by `fixed`, then `options`, padded to 8n.
fn emit(kind: u8, options: &PmipOptions, fixed: impl FnOnce(&mut [u8])) -> Result<Vec<u8>> {
    let opts = options.encode()?;
    let shape: Vec<_> = opts.iter().map(|o| (o.align.0, o.align.1, o.data.len())).collect();
    // BU_OPTIONS == BA_OPTIONS: both fixed parts are 12 octets.
    let total = mobility::laid_out_len(field::BU_OPTIONS, &shape);
    if total > MAX_MESSAGE_LEN {
        return Err(Error::NoRoom { layer: LAYER, required: total, len: MAX_MESSAGE_LEN });
    }
    let mut v = vec![0; total];
    mobility::write_fixed(&mut v, kind, total);
    fixed(&mut v);
    let mut w = OptionWriter { buf: &mut v, pos: field::BU_OPTIONS };
    for o in &opts {
        w.option(o.align.0, o.align.1, o.kind, &o.data);
    }
    w.finish();
    Ok(v)
}

/// Checks what both messages share: a whole MH of `kind`, Payload Proto 59 (RFC 6275 §6.1.1).
fn checked(mh: &[u8], kind: u8) -> Result<&[u8]> {
    let m = mobility::checked_message(mh, kind)?;
    if m[field::PAYLOAD_PROTO] != PAYLOAD_PROTO_NONE {
        return Err(Error::Malformed { layer: LAYER, what: "payload proto" });
    }
    Ok(m)
}

impl ProxyBindingUpdate {
    pub const MH_TYPE: u8 = mh_type::BINDING_UPDATE;

    pub fn flags(&self) -> u16 {
        (if self.ack { pbu_flags::ACK } else { 0 })
            | (if self.home_reg { pbu_flags::HOME_REGISTRATION } else { 0 })
            | (if self.link_local_compat { pbu_flags::LINK_LOCAL } else { 0 })
            | (if self.proxy_reg { pbu_flags::PROXY } else { 0 })
    }

    /// The whole Mobility Header with a zero checksum, or an error when an option does not
    /// fit its 8-bit length ([`MAX_MN_ID_LEN`], [`MAX_LINK_LAYER_ID_LEN`], empty
    /// identifiers, prefix length > 128) or the message exceeds [`MAX_MESSAGE_LEN`].
    pub fn try_to_bytes(&self) -> Result<Vec<u8>> {
        emit(mh_type::BINDING_UPDATE, &self.options, |b| {
            b[field::BU_SEQUENCE].copy_from_slice(&self.seq.to_be_bytes());
            b[field::BU_FLAGS].copy_from_slice(&self.flags().to_be_bytes());
            b[field::BU_LIFETIME].copy_from_slice(&self.lifetime_units.to_be_bytes());
        })
    }

    /// [`Self::try_to_bytes`] for messages built from validated policy.
    ///
    /// # Panics
    /// When `try_to_bytes` would fail: an identifier too long or empty, a prefix length
    /// above 128, or too many prefixes for one Mobility Header.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.try_to_bytes().expect("PBU options within RFC 5213 limits")
    }

    /// Parses a PBU: MH type 5, Payload Proto 59, the P flag (RFC 5213 §8.1), well-formed
    /// options with no singleton repeated. Does not verify the checksum.
    pub fn parse(mh: &[u8]) -> Result<Self> {
        let m = checked(mh, mh_type::BINDING_UPDATE)?;
        let flags = mobility::be16(m, field::BU_FLAGS);
        if flags & pbu_flags::PROXY == 0 {
            return Err(Error::Malformed { layer: LAYER, what: "proxy registration flag" });
        }
        Ok(ProxyBindingUpdate {
            seq: mobility::be16(m, field::BU_SEQUENCE),
            ack: flags & pbu_flags::ACK != 0,
            home_reg: flags & pbu_flags::HOME_REGISTRATION != 0,
            link_local_compat: flags & pbu_flags::LINK_LOCAL != 0,
            proxy_reg: true,
            lifetime_units: mobility::be16(m, field::BU_LIFETIME),
            options: PmipOptions::parse(m)?,
        })
    }

    /// Lifetime 0 deregisters (RFC 5213 §5.3.5).
    pub fn is_deregistration(&self) -> bool {
        self.lifetime_units == 0
    }
}

impl ProxyBindingAck {
    pub const MH_TYPE: u8 = mh_type::BINDING_ACK;

    pub fn flags(&self) -> u8 {
        (if self.key_mgmt { pba_flags::KEY_MANAGEMENT } else { 0 })
            | (if self.router { pba_flags::MOBILE_ROUTER } else { 0 })
            | (if self.proxy_reg { pba_flags::PROXY } else { 0 })
    }

    /// True when the status says the PBU was accepted (RFC 6275 §6.1.8: below 128).
    pub fn accepted(&self) -> bool {
        self.status < 128
    }

    /// The whole Mobility Header with a zero checksum; errors as
    /// [`ProxyBindingUpdate::try_to_bytes`].
    pub fn try_to_bytes(&self) -> Result<Vec<u8>> {
        emit(mh_type::BINDING_ACK, &self.options, |b| {
            b[field::BA_STATUS] = self.status;
            b[field::BA_FLAGS] = self.flags();
            b[field::BA_SEQUENCE].copy_from_slice(&self.seq.to_be_bytes());
            b[field::BA_LIFETIME].copy_from_slice(&self.lifetime_units.to_be_bytes());
        })
    }

    /// [`Self::try_to_bytes`] for messages built from checked values.
    ///
    /// # Panics
    /// As [`ProxyBindingUpdate::to_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        self.try_to_bytes().expect("PBA options within RFC 5213 limits")
    }

    /// Parses a PBA: MH type 6, Payload Proto 59, the P flag (RFC 5213 §8.2), well-formed
    /// options with no singleton repeated. Does not verify the checksum.
    pub fn parse(mh: &[u8]) -> Result<Self> {
        let m = checked(mh, mh_type::BINDING_ACK)?;
        let flags = m[field::BA_FLAGS];
        if flags & pba_flags::PROXY == 0 {
            return Err(Error::Malformed { layer: LAYER, what: "proxy registration flag" });
        }
        Ok(ProxyBindingAck {
            status: m[field::BA_STATUS],
            key_mgmt: flags & pba_flags::KEY_MANAGEMENT != 0,
            router: flags & pba_flags::MOBILE_ROUTER != 0,
            proxy_reg: true,
            seq: mobility::be16(m, field::BA_SEQUENCE),
            lifetime_units: mobility::be16(m, field::BA_LIFETIME),
            options: PmipOptions::parse(m)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const TS: u64 = 0x0000_6553_f100_8000;
    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

    fn all_options(prefix: (Ipv6Addr, u8)) -> PmipOptions {
        PmipOptions {
            mn_id: Some(b"mn2@lab".to_vec()),
            home_network_prefixes: vec![prefix],
            handoff_indicator: Some(handoff::NEW_ATTACHMENT),
            access_technology: Some(access_technology::IEEE_802_3),
            mn_link_layer_id: Some(MAC.to_vec()),
            link_local_address: Some(a("fe80::1")),
            timestamp: Some(TS),
        }
    }

    fn pbu() -> ProxyBindingUpdate {
        ProxyBindingUpdate {
            seq: 7,
            ack: true,
            home_reg: true,
            link_local_compat: false,
            proxy_reg: true,
            lifetime_units: 225,
            options: all_options((Ipv6Addr::UNSPECIFIED, 0)),
        }
    }

    /// The PBU above, laid out by hand from RFC 5213 Figures (§8.1, §8.3–8.8) and
    /// RFC 4283 §3, options at the alignments of [`alignment`].
    #[rustfmt::skip]
    const PBU_BYTES: [u8; 104] = [
        59, 12, 5, 0, 0, 0,             // Payload Proto, Header Len (104/8 - 1), MH type 5
        0x00, 0x07,                     // Sequence 7
        0xc2, 0x00,                     // A|H|P
        0x00, 0xe1,                     // Lifetime 225 units (900 s)
        8, 8, 1, b'm', b'n', b'2', b'@', b'l', b'a', b'b', // 12: MN-ID, NAI "mn2@lab"
        1, 4, 0, 0, 0, 0,               // 22: PadN to 28 = 8n+4
        22, 18, 0, 0,                   // 28: HNP, reserved, prefix length 0
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ::
        23, 2, 0, 1,                    // 48: Handoff Indicator 1
        24, 2, 0, 3,                    // 52: Access Technology Type 3 (IEEE 802.3)
        1, 0,                           // 56: PadN to 58 = 8n+2
        25, 8, 0, 0, 2, 0, 0, 0, 0, 2,  // 58: MN LL-ID, reserved, 02:00:00:00:00:02
        1, 0,                           // 68: PadN to 70 = 8n+6
        26, 16, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // 70: fe80::1
        1, 0,                           // 88: PadN to 90 = 8n+2
        27, 8, 0, 0, 0x65, 0x53, 0xf1, 0, 0x80, 0, // 90: Timestamp
        1, 2, 0, 0,                     // 100: PadN to 104 = 8n
    ];

    fn pba() -> ProxyBindingAck {
        let mut options = all_options((a("2001:db8:20:1::"), 64));
        options.mn_link_layer_id = None;
        options.link_local_address = None;
        let lifetime_units = 225;
        ProxyBindingAck { proxy_reg: true, seq: 7, lifetime_units, options, ..Default::default() }
    }

    /// The PBA above by hand from RFC 5213 §8.2: no LL-ID or link-local, so the timestamp
    /// follows the ATT directly.
    #[rustfmt::skip]
    const PBA_BYTES: [u8; 72] = [
        59, 8, 6, 0, 0, 0,              // Header Len 72/8 - 1, MH type 6
        0,                              // Status 0
        0x20,                           // P
        0x00, 0x07, 0x00, 0xe1,         // Sequence 7, Lifetime 225
        8, 8, 1, b'm', b'n', b'2', b'@', b'l', b'a', b'b', // 12: MN-ID
        1, 4, 0, 0, 0, 0,               // 22: PadN to 28
        22, 18, 0, 64,                  // 28: HNP /64
        0x20, 0x01, 0x0d, 0xb8, 0, 0x20, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, // 2001:db8:20:1::
        23, 2, 0, 1,                    // 48: HI
        24, 2, 0, 3,                    // 52: ATT
        1, 0,                           // 56: PadN to 58 = 8n+2
        27, 8, 0, 0, 0x65, 0x53, 0xf1, 0, 0x80, 0, // 58: Timestamp
        1, 2, 0, 0,                     // 68: PadN to 72
    ];

    #[test]
    fn pbu_known_bytes() {
        assert_eq!(pbu().to_bytes(), PBU_BYTES);
        assert_eq!(ProxyBindingUpdate::parse(&PBU_BYTES).unwrap(), pbu());
    }

    #[test]
    fn pba_known_bytes() {
        assert_eq!(pba().to_bytes(), PBA_BYTES);
        let p = ProxyBindingAck::parse(&PBA_BYTES).unwrap();
        assert_eq!(p, pba());
        assert!(p.accepted());
    }

    #[test]
    fn round_trips() {
        let mut u = pbu();
        u.options.home_network_prefixes.push((a("2001:db8:20:2::"), 64));
        u.lifetime_units = 0;
        u.link_local_compat = true;
        let b = u.to_bytes();
        assert_eq!(b.len() % 8, 0);
        assert_eq!(usize::from(b[1]), b.len() / 8 - 1);
        assert_eq!(ProxyBindingUpdate::parse(&b).unwrap(), u);
        assert!(u.is_deregistration());
        let bare = ProxyBindingUpdate { proxy_reg: true, ..Default::default() };
        assert_eq!(bare.to_bytes(), [59, 1, 5, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 1, 2, 0, 0]);
        assert_eq!(ProxyBindingUpdate::parse(&bare.to_bytes()).unwrap(), bare);
        let ba = ProxyBindingAck {
            status: status::NOT_LMA_FOR_THIS_MOBILE_NODE,
            key_mgmt: true,
            router: true,
            proxy_reg: true,
            seq: 0xfffe,
            lifetime_units: 0,
            options: PmipOptions { mn_id: Some(b"x".to_vec()), ..Default::default() },
        };
        let p = ProxyBindingAck::parse(&ba.to_bytes()).unwrap();
        assert_eq!(p, ba);
        assert!(!p.accepted());
    }

    #[test]
    fn checksum_fills_and_verifies() {
        let (src, dst) = (a("2001:db8:c0::1"), a("2001:db8:c0::2"));
        let mut b = pbu().to_bytes();
        mobility::fill_checksum(&mut b, &src, &dst).unwrap();
        assert!(mobility::verify_checksum(&src, &dst, &b));
        assert_eq!(ProxyBindingUpdate::parse(&b).unwrap(), pbu(), "checksum is not an option");
    }

    /// Every option's type byte at its alignment, whatever comes before it.
    #[test]
    fn every_option_aligned() {
        let want = |kind| match kind {
            option_type::MN_ID => alignment::MN_ID,
            option_type::HOME_NETWORK_PREFIX => alignment::HOME_NETWORK_PREFIX,
            option_type::HANDOFF_INDICATOR => alignment::HANDOFF_INDICATOR,
            option_type::ACCESS_TECHNOLOGY => alignment::ACCESS_TECHNOLOGY,
            option_type::MN_LINK_LAYER_ID => alignment::MN_LINK_LAYER_ID,
            option_type::LINK_LOCAL_ADDRESS => alignment::LINK_LOCAL_ADDRESS,
            option_type::TIMESTAMP => alignment::TIMESTAMP,
            k => panic!("unexpected option {k}"),
        };
        assert_eq!(alignment::HOME_NETWORK_PREFIX, (8, 4));
        assert_eq!(alignment::LINK_LOCAL_ADDRESS, (8, 6));
        assert_eq!(alignment::TIMESTAMP, (8, 2));
        assert_eq!(alignment::MN_LINK_LAYER_ID.1 % 2, 0, "16-bit Reserved on 2n");
        let mut seen = 0;
        for id_len in 1..=17 {
            let mut u = pbu();
            u.options.mn_id = Some(vec![b'a'; id_len]);
            u.options.mn_link_layer_id = Some(vec![0xaa; id_len % 9 + 1]);
            u.options.home_network_prefixes.push((a("2001:db8::"), 32));
            let b = u.to_bytes();
            assert_eq!(b.len() % 8, 0);
            for o in Options::new(&b, 12) {
                if let MobilityOption::Unknown { kind, .. } = o.unwrap().option {
                    let (x, y) = want(kind);
                    assert_eq!(o.unwrap().offset % x, y, "option {kind}, MN-ID length {id_len}");
                    seen += 1;
                }
            }
            assert_eq!(ProxyBindingUpdate::parse(&b).unwrap(), u);
        }
        assert_eq!(seen, 17 * 8);
    }

    fn expect_malformed(b: &[u8], what: &str) {
        match ProxyBindingUpdate::parse(b) {
            Err(Error::Malformed { what: w, .. }) => assert_eq!(w, what),
            other => panic!("expected malformed {what}, got {other:?}"),
        }
    }

    /// PBU_BYTES with the option at `at` replaced by `opt` (same total length).
    fn with_option(at: usize, opt: &[u8]) -> Vec<u8> {
        let mut b = PBU_BYTES.to_vec();
        b[at..at + opt.len()].copy_from_slice(opt);
        b
    }

    #[test]
    fn duplicated_singletons_refused() {
        // Turn the 4-byte PadN at 100 into a second HI / ATT.
        expect_malformed(&with_option(100, &[23, 2, 0, 4]), "duplicate handoff indicator");
        expect_malformed(&with_option(100, &[24, 2, 0, 3]), "duplicate access technology type");
        // The 6-byte PadN at 22 into a second MN-ID.
        expect_malformed(&with_option(22, &[8, 4, 1, b'a', b'b', b'c']), "duplicate mn identifier");
        let b = with_option(22, &[25, 4, 0, 0, 1, 2]);
        expect_malformed(&b, "duplicate mn link-layer identifier");
        // The link-local option's first 10 bytes into a second timestamp.
        let mut b = PBU_BYTES.to_vec();
        b[70..80].copy_from_slice(&[27, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
        b[80..88].copy_from_slice(&[1, 6, 0, 0, 0, 0, 0, 0]);
        expect_malformed(&b, "duplicate timestamp");
        // A second link-local address in place of the timestamp and what follows.
        let mut b = PBU_BYTES[..88].to_vec();
        b.extend_from_slice(&[1, 0, 26, 16]);
        b.extend_from_slice(&a("fe80::2").octets());
        b.extend_from_slice(&[0; 12]); // Pad1s: 88 + 20 + 12 = 120
        b[1] = (b.len() / 8 - 1) as u8;
        expect_malformed(&b, "duplicate link-local address");
        // Several HNPs are allowed.
        let mut two = PBU_BYTES.to_vec();
        two.truncate(100);
        // Pad1s to 104, then an HNP there: 8n, not 8n+4, but receivers take any alignment.
        two.extend_from_slice(&[0, 0, 0, 0, 22, 18, 0, 64]);
        two.extend_from_slice(&a("2001:db8:20:9::").octets());
        two.extend_from_slice(&[0; 4]);
        two[1] = (two.len() / 8 - 1) as u8;
        let p = ProxyBindingUpdate::parse(&two).unwrap();
        assert_eq!(p.options.home_network_prefixes.len(), 2);
        assert_eq!(p.options.home_network_prefixes[1], (a("2001:db8:20:9::"), 64));
    }

    #[test]
    fn wrong_lengths_refused() {
        // HNP length 17 (then its last byte reads as Pad1).
        let mut b = PBU_BYTES.to_vec();
        b[29] = 17;
        expect_malformed(&b, "home network prefix option length");
        b[29] = 18;
        b[31] = 129;
        expect_malformed(&b, "home network prefix length");
        // Link-local address length 14 (the rest as a PadN of 0).
        let mut b = PBU_BYTES.to_vec();
        b[71] = 14;
        b[86] = 1;
        b[87] = 0;
        expect_malformed(&b, "link-local address option length");
        // Timestamp length 6 followed by a 2-byte PadN.
        let mut b = PBU_BYTES.to_vec();
        b[91] = 6;
        b[98] = 1;
        b[99] = 0;
        expect_malformed(&b, "timestamp option length");
        // HI and ATT of length 3 swallowing the next option's type byte.
        let mut b = PBU_BYTES.to_vec();
        b[49] = 3;
        expect_malformed(&b, "handoff indicator option length");
        let mut b = PBU_BYTES.to_vec();
        b[53] = 1;
        b[54] = 0;
        b[55] = 0; // ATT of length 1: [24, 1, 0] then Pad1
        expect_malformed(&b, "access technology type option length");
        // MN LL-ID with only its Reserved field.
        let mut b = PBU_BYTES.to_vec();
        b[59] = 2;
        b[62] = 1;
        b[63] = 4;
        expect_malformed(&b, "mn link-layer identifier option length");
    }

    #[test]
    fn bad_mn_identifier_refused() {
        let mut b = PBU_BYTES.to_vec();
        b[14] = 2; // subtype other than NAI
        expect_malformed(&b, "mn identifier subtype");
        // Length 1: a subtype and no identifier, the rest as PadN.
        let mut b = PBU_BYTES.to_vec();
        b[13] = 1;
        b[15] = 1;
        b[16] = 5;
        expect_malformed(&b, "mn identifier length");
        // Length 0: not even a subtype.
        let mut b = PBU_BYTES.to_vec();
        b[13] = 0;
        b[14] = 1;
        b[15] = 6;
        expect_malformed(&b, "mn identifier length");
    }

    #[test]
    fn truncated_refused() {
        for n in 0..PBU_BYTES.len() {
            assert!(ProxyBindingUpdate::parse(&PBU_BYTES[..n]).is_err(), "length {n}");
        }
        // Header Len says 104 bytes but the last option claims to run past them.
        let mut b = PBU_BYTES.to_vec();
        b[91] = 20;
        assert!(matches!(ProxyBindingUpdate::parse(&b), Err(Error::Truncated { .. })));
        // Bytes past Header Len are not part of the message.
        let mut longer = PBU_BYTES.to_vec();
        longer.extend_from_slice(&[23, 2, 0, 9]);
        assert_eq!(ProxyBindingUpdate::parse(&longer).unwrap(), pbu());
    }

    #[test]
    fn header_checks() {
        let mut b = PBU_BYTES.to_vec();
        b[8] = 0xc0; // P flag clear: a plain (MIPv6) Binding Update
        assert_eq!(ProxyBindingUpdate::parse(&b), Err(Error::Malformed { layer: LAYER, what: "proxy registration flag" }));
        let mut b = PBA_BYTES.to_vec();
        b[7] = 0x80;
        assert_eq!(ProxyBindingAck::parse(&b), Err(Error::Malformed { layer: LAYER, what: "proxy registration flag" }));
        assert!(ProxyBindingAck::parse(&PBU_BYTES).is_err(), "MH type is checked");
        assert!(ProxyBindingUpdate::parse(&PBA_BYTES).is_err(), "MH type is checked");
        let mut b = PBU_BYTES.to_vec();
        b[0] = 6;
        assert_eq!(ProxyBindingUpdate::parse(&b), Err(Error::Malformed { layer: LAYER, what: "payload proto" }));
        let e = ProxyBindingUpdate::parse(&b).unwrap_err();
        assert_eq!(e.to_string(), "pmip: malformed payload proto");
    }

    #[test]
    fn unknown_options_skipped() {
        // The 6-byte PadN at 22 becomes an unknown option 200, and the one at 100 a
        // Nonce Indices (RFC 6275, meaningless here): both skipped.
        let mut b = with_option(22, &[200, 4, 9, 9, 9, 9]);
        b[100..104].copy_from_slice(&[4, 2, 0, 0]);
        assert!(ProxyBindingUpdate::parse(&b).is_err(), "nonce indices needs length 4");
        b.truncate(100);
        b.extend_from_slice(&[4, 4, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0]);
        b[1] = (b.len() / 8 - 1) as u8;
        assert_eq!(ProxyBindingUpdate::parse(&b).unwrap(), pbu());
    }

    #[test]
    fn emit_refuses_what_cannot_be_encoded() {
        let mut u = pbu();
        u.options.mn_id = Some(vec![b'a'; MAX_MN_ID_LEN]);
        assert_eq!(ProxyBindingUpdate::parse(&u.to_bytes()).unwrap(), u);
        u.options.mn_id = Some(vec![b'a'; MAX_MN_ID_LEN + 1]);
        assert!(u.try_to_bytes().is_err());
        u.options.mn_id = Some(Vec::new());
        assert!(u.try_to_bytes().is_err());
        let mut u = pbu();
        u.options.mn_link_layer_id = Some(vec![1; MAX_LINK_LAYER_ID_LEN + 1]);
        assert!(u.try_to_bytes().is_err());
        let mut u = pbu();
        u.options.home_network_prefixes = vec![(a("2001:db8::"), 129)];
        assert!(u.try_to_bytes().is_err());
        u.options.home_network_prefixes = vec![(a("2001:db8::"), 64); 100];
        assert!(matches!(u.try_to_bytes(), Err(Error::NoRoom { .. })));
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name(0), "ACCEPTED");
        assert_eq!(status_name(128), "REASON_UNSPECIFIED");
        assert_eq!(status_name(135), "SEQUENCE_NUMBER_OUT_OF_WINDOW");
        assert_eq!(status_name(151), "UNKNOWN");
        assert_eq!(status_name(152), "PROXY_REG_NOT_ENABLED");
        assert_eq!(status_name(153), "NOT_LMA_FOR_THIS_MOBILE_NODE");
        assert_eq!(status_name(154), "MAG_NOT_AUTHORIZED_FOR_PROXY_REG");
        assert_eq!(status_name(155), "NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX");
        assert_eq!(status_name(156), "TIMESTAMP_MISMATCH");
        assert_eq!(status_name(157), "TIMESTAMP_LOWER_THAN_PREV_ACCEPTED");
        assert_eq!(status_name(158), "MISSING_HOME_NETWORK_PREFIX_OPTION");
        assert_eq!(status_name(159), "BCE_PBU_PREFIX_SET_DO_NOT_MATCH");
        assert_eq!(status_name(160), "MISSING_MN_IDENTIFIER_OPTION");
        assert_eq!(status_name(161), "MISSING_HANDOFF_INDICATOR_OPTION");
        assert_eq!(status_name(162), "MISSING_ACCESS_TECH_TYPE_OPTION");
        assert_eq!(status_name(163), "UNKNOWN");
        let named = (0..=255u8).filter(|s| status_name(*s) != "UNKNOWN").count();
        assert_eq!(named, 1 + 12 + 11);
    }

    #[test]
    fn timestamps() {
        let d = Duration::new(0x6553_f100, 500_000_000);
        assert_eq!(timestamp_from_unix(d), 0x6553_f100_8000);
        assert_eq!(timestamp_to_unix(0x6553_f100_8000), d);
        assert_eq!(timestamp_from_unix(Duration::new(1, 999_999_999)), 0x1_ffff);
        // Seconds keep their low 48 bits.
        assert_eq!(timestamp_from_unix(Duration::from_secs(1 << 48 | 5)), 5 << 16);
        let later = timestamp_from_unix(Duration::from_millis(1001));
        assert!(later > timestamp_from_unix(Duration::from_secs(1)));
    }
}
