//! The Mobility Header (RFC 6275 §6.1), its messages and its options (§6.2).
//!
//! [`Header`] is the view the worker path and the reflector use to classify and check a
//! message; the per-message `Repr`s build and parse HoTI/CoTI/HoT/CoT/BU/BA/BE/BRR for the
//! reflector and for test peers. Emission uses one canonical layout per message so known
//! byte strings come out exactly (BU: Nonce Indices at 12, BAD at 18; BA: PadN at 12, BAD
//! at 18).

use core::net::Ipv6Addr;

use crate::{checksum, Error, Result};

/// Next Header value of the Mobility Header (RFC 6275 §6.1.1, IANA).
pub const NEXT_HEADER: u8 = 135;
/// IPPROTO_NONE: the only valid Payload Proto (RFC 6275 §6.1.1, §9.2).
pub const PAYLOAD_PROTO_NONE: u8 = 59;
/// Payload Proto, Header Len, MH Type, Reserved, Checksum.
pub const FIXED_LEN: usize = 6;
/// Length of the authenticator in the Binding Authorization Data option (§6.2.7).
pub const AUTHENTICATOR_LEN: usize = 12;

const LAYER: &str = "mobility";
const OPT_LAYER: &str = "mobility option";

/// MH Type values (RFC 6275 §6.1.2–§6.1.9).
pub mod mh_type {
    pub const BINDING_REFRESH_REQUEST: u8 = 0;
    pub const HOME_TEST_INIT: u8 = 1;
    pub const CARE_OF_TEST_INIT: u8 = 2;
    pub const HOME_TEST: u8 = 3;
    pub const CARE_OF_TEST: u8 = 4;
    pub const BINDING_UPDATE: u8 = 5;
    pub const BINDING_ACK: u8 = 6;
    pub const BINDING_ERROR: u8 = 7;
}

/// Mobility option types (RFC 6275 §6.2.2–§6.2.7).
pub mod opt_type {
    pub const PAD1: u8 = 0;
    pub const PADN: u8 = 1;
    pub const BINDING_REFRESH_ADVICE: u8 = 2;
    pub const ALTERNATE_CARE_OF: u8 = 3;
    pub const NONCE_INDICES: u8 = 4;
    pub const BINDING_AUTH_DATA: u8 = 5;
}

/// Binding Acknowledgement status values used by a correspondent node (RFC 6275 §6.1.8).
pub mod ba_status {
    pub const ACCEPTED: u8 = 0;
    pub const INSUFFICIENT_RESOURCES: u8 = 130;
    pub const HOME_REGISTRATION_NOT_SUPPORTED: u8 = 131;
    pub const SEQUENCE_OUT_OF_WINDOW: u8 = 135;
    pub const EXPIRED_HOME_NONCE_INDEX: u8 = 136;
    pub const EXPIRED_CARE_OF_NONCE_INDEX: u8 = 137;
    pub const EXPIRED_NONCES: u8 = 138;
    pub const REGISTRATION_TYPE_CHANGE_DISALLOWED: u8 = 139;
}

/// Binding Error status values (RFC 6275 §6.1.9).
pub mod be_status {
    pub const UNKNOWN_BINDING_FOR_HOME_ADDRESS: u8 = 1;
    pub const UNRECOGNIZED_MH_TYPE: u8 = 2;
}

/// Binding Update flags (RFC 6275 §6.1.7), in the 16-bit word at offset 8.
pub mod bu_flags {
    pub const ACK: u16 = 0x8000;
    pub const HOME_REGISTRATION: u16 = 0x4000;
    pub const LINK_LOCAL: u16 = 0x2000;
    pub const KEY_MANAGEMENT: u16 = 0x1000;
}

/// Binding Acknowledgement K flag (RFC 6275 §6.1.8), in the byte at offset 7.
pub const BA_FLAG_KEY_MANAGEMENT: u8 = 0x80;

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Payload Proto |  Header Len   |   MH Type     |   Reserved    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           Checksum            |                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               |
// .                                                               .
// .                       Message Data                            .
// .                                                               .
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
pub(crate) mod field {
    use core::ops::Range;
    pub const PAYLOAD_PROTO: usize = 0;
    pub const HEADER_LEN: usize = 1;
    pub const MH_TYPE: usize = 2;
    pub const RESERVED: usize = 3;
    pub const CHECKSUM: Range<usize> = 4..6;
    pub const BODY: usize = 6;

    // HoTI/CoTI (§6.1.3, §6.1.4): Reserved(2) at 6, Init Cookie(8) at 8.
    pub const INIT_COOKIE: Range<usize> = 8..16;
    pub const TEST_INIT_OPTIONS: usize = 16;
    // HoT/CoT (§6.1.5, §6.1.6): Nonce Index(2), Init Cookie(8), Keygen Token(8).
    pub const NONCE_INDEX: Range<usize> = 6..8;
    pub const TEST_COOKIE: Range<usize> = 8..16;
    pub const KEYGEN_TOKEN: Range<usize> = 16..24;
    pub const TEST_OPTIONS: usize = 24;
    // BU (§6.1.7): Sequence(2), flags(2), Lifetime(2).
    pub const BU_SEQUENCE: Range<usize> = 6..8;
    pub const BU_FLAGS: Range<usize> = 8..10;
    pub const BU_LIFETIME: Range<usize> = 10..12;
    pub const BU_OPTIONS: usize = 12;
    // BA (§6.1.8): Status(1), K|Reserved(1), Sequence(2), Lifetime(2).
    pub const BA_STATUS: usize = 6;
    pub const BA_FLAGS: usize = 7;
    pub const BA_SEQUENCE: Range<usize> = 8..10;
    pub const BA_LIFETIME: Range<usize> = 10..12;
    pub const BA_OPTIONS: usize = 12;
    // BE (§6.1.9): Status(1), Reserved(1), Home Address(16).
    pub const BE_STATUS: usize = 6;
    pub const BE_HOME: Range<usize> = 8..24;
    pub const BE_OPTIONS: usize = 24;
    // BRR (§6.1.2): Reserved(2).
    pub const BRR_OPTIONS: usize = 8;
}

/// The smallest Header Len a message of `mh_type` may carry (RFC 6275 §6.1.2–§6.1.9), or
/// `None` for a type this implementation does not know. A smaller value must be answered
/// with ICMPv6 Parameter Problem code 0 pointing at Header Len (§9.2), not dropped, which is
/// why [`Header::new_checked`] does not enforce it.
pub fn min_header_len(mh_type: u8) -> Option<u8> {
    match mh_type {
        mh_type::BINDING_REFRESH_REQUEST => Some(0),                     // 8 bytes
        mh_type::HOME_TEST_INIT | mh_type::CARE_OF_TEST_INIT => Some(1), // 16 bytes
        mh_type::HOME_TEST | mh_type::CARE_OF_TEST => Some(2),           // 24 bytes
        mh_type::BINDING_UPDATE | mh_type::BINDING_ACK => Some(1),       // 12 bytes, rounded to 16
        mh_type::BINDING_ERROR => Some(2),                               // 24 bytes
        _ => None,
    }
}

/// Offset of the Payload Proto field, for a Parameter Problem pointer (§9.2).
pub const PAYLOAD_PROTO_OFFSET: usize = field::PAYLOAD_PROTO;
/// Offset of the Header Len field, for a Parameter Problem pointer (§9.2).
pub const HEADER_LEN_OFFSET: usize = field::HEADER_LEN;

/// A view of a Mobility Header. `new_checked` guarantees the fixed 6 bytes and the whole
/// `(Header Len + 1) * 8` bytes are present; the buffer may be longer (the rest is ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps `buffer` after checking the fixed part and the whole declared length are present.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let len = buffer.as_ref().len();
        if len < FIXED_LEN {
            return Err(Error::Truncated { layer: LAYER, required: FIXED_LEN, len });
        }
        let required = (usize::from(buffer.as_ref()[field::HEADER_LEN]) + 1) * 8;
        if len < required {
            return Err(Error::Truncated { layer: LAYER, required, len });
        }
        Ok(Header { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn payload_proto(&self) -> u8 {
        self.buffer.as_ref()[field::PAYLOAD_PROTO]
    }

    /// The raw Header Len field: length in 8-octet units, not counting the first 8.
    pub fn header_len(&self) -> u8 {
        self.buffer.as_ref()[field::HEADER_LEN]
    }

    /// The Mobility Header's total length in bytes, `(Header Len + 1) * 8`.
    pub fn header_len_bytes(&self) -> usize {
        (usize::from(self.header_len()) + 1) * 8
    }

    pub fn mh_type(&self) -> u8 {
        self.buffer.as_ref()[field::MH_TYPE]
    }

    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }

    pub fn checksum(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::CHECKSUM.start], b[field::CHECKSUM.start + 1]])
    }

    /// The whole Mobility Header (`header_len_bytes` long).
    pub fn message(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len_bytes()]
    }

    /// Message Data: everything after the checksum.
    pub fn body(&self) -> &[u8] {
        &self.message()[field::BODY..]
    }

    /// True when the checksum verifies for the pseudo-header (`src`, `dst`): `src` is the
    /// home address when a Home Address option is present, `dst` the final destination.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        verify_checksum(src, dst, self.message())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Computes and stores the checksum for (`src`, final destination `dst`).
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let c = checksum(src, dst, self.message());
        self.set_checksum(c);
    }
}

/// The checksum (RFC 6275 §6.1.1) of the Mobility Header `mh`, its checksum field taken as
/// zero: pseudo-header (RFC 8200 §8.1) with next header 135 and length `mh.len()`.
pub fn checksum(src: &Ipv6Addr, dst: &Ipv6Addr, mh: &[u8]) -> u16 {
    let mut acc = checksum::pseudo_header(src, dst, mh.len() as u32, NEXT_HEADER);
    if mh.len() >= FIXED_LEN {
        acc = checksum::sum(acc, &mh[..field::CHECKSUM.start]);
        acc = checksum::sum(acc, &mh[field::CHECKSUM.end..]);
    } else {
        acc = checksum::sum(acc, mh);
    }
    checksum::finish(acc)
}

/// True when `mh` (checksum field included) verifies against the pseudo-header.
pub fn verify_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, mh: &[u8]) -> bool {
    checksum::verify_upper_layer(src, dst, NEXT_HEADER, mh)
}

/// Computes and stores the checksum of the Mobility Header at the start of `mh` for
/// (`src`, final destination `dst`: the Type 2 Routing Header's address when there is one).
pub fn fill_checksum(mh: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<()> {
    let mut h = Header::new_checked(mh)?;
    h.fill_checksum(src, dst);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Mobility options (RFC 6275 §6.2)
// ---------------------------------------------------------------------------------------

/// One mobility option as found in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MobilityOption {
    /// §6.2.2: a single zero byte.
    Pad1,
    /// §6.2.3: `len` bytes of padding data after type and length.
    PadN { len: u8 },
    /// §6.2.4: refresh interval in units of 4 seconds.
    BindingRefreshAdvice { interval: u16 },
    /// §6.2.5.
    AlternateCareOf(Ipv6Addr),
    /// §6.2.6.
    NonceIndices { home: u16, care_of: u16 },
    /// §6.2.7: the authenticator.
    BindingAuthData([u8; AUTHENTICATOR_LEN]),
    /// Any other type; skipped by receivers (§6.2.1).
    Unknown { kind: u8, len: u8 },
}

/// An option and the offset of its type byte from the start of the Mobility Header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionAt {
    pub offset: usize,
    pub option: MobilityOption,
}

/// Iterates over the options in `mh[start..]`. Yields an error (and then stops) when an
/// option overruns the message or a known option has the wrong length.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    mh: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Options<'a> {
    /// Options of the message `mh` (exactly the Mobility Header) starting at `start`.
    pub fn new(mh: &'a [u8], start: usize) -> Self {
        Options { mh, pos: start, failed: false }
    }
}

fn opt_len_error(what: &'static str) -> Error {
    Error::Malformed { layer: OPT_LAYER, what }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<OptionAt>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.mh.len() {
            return None;
        }
        let offset = self.pos;
        let kind = self.mh[offset];
        if kind == opt_type::PAD1 {
            self.pos += 1;
            return Some(Ok(OptionAt { offset, option: MobilityOption::Pad1 }));
        }
        let Some(&len) = self.mh.get(offset + 1) else {
            self.failed = true;
            return Some(Err(Error::Truncated { layer: OPT_LAYER, required: offset + 2, len: self.mh.len() }));
        };
        let end = offset + 2 + usize::from(len);
        if end > self.mh.len() {
            self.failed = true;
            return Some(Err(Error::Truncated { layer: OPT_LAYER, required: end, len: self.mh.len() }));
        }
        let data = &self.mh[offset + 2..end];
        self.pos = end;
        let be16 = |i: usize| u16::from_be_bytes([data[i], data[i + 1]]);
        let option = match (kind, data.len()) {
            (opt_type::PADN, _) => MobilityOption::PadN { len },
            (opt_type::BINDING_REFRESH_ADVICE, 2) => MobilityOption::BindingRefreshAdvice { interval: be16(0) },
            (opt_type::ALTERNATE_CARE_OF, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(data);
                MobilityOption::AlternateCareOf(Ipv6Addr::from(a))
            }
            (opt_type::NONCE_INDICES, 4) => MobilityOption::NonceIndices { home: be16(0), care_of: be16(2) },
            (opt_type::BINDING_AUTH_DATA, AUTHENTICATOR_LEN) => {
                let mut a = [0u8; AUTHENTICATOR_LEN];
                a.copy_from_slice(data);
                MobilityOption::BindingAuthData(a)
            }
            (opt_type::BINDING_REFRESH_ADVICE | opt_type::ALTERNATE_CARE_OF | opt_type::NONCE_INDICES | opt_type::BINDING_AUTH_DATA, _) => {
                self.failed = true;
                return Some(Err(opt_len_error("option length")));
            }
            _ => MobilityOption::Unknown { kind, len },
        };
        Some(Ok(OptionAt { offset, option }))
    }
}

/// What a message's options say, gathered in one pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Gathered {
    refresh_advice: Option<u16>,
    alt_care_of: Option<Ipv6Addr>,
    nonce_indices: Option<(u16, u16)>,
    bad: Option<(usize, [u8; AUTHENTICATOR_LEN])>,
}

/// Walks the options of `mh` from `start`; the first of each kind wins. A Binding
/// Authorization Data option must be the last option with no trailing padding (§6.2.7).
fn gather(mh: &[u8], start: usize) -> Result<Gathered> {
    let mut g = Gathered::default();
    for item in Options::new(mh, start) {
        let OptionAt { offset, option } = item?;
        if g.bad.is_some() {
            return Err(Error::Malformed { layer: OPT_LAYER, what: "binding authorization data not last" });
        }
        match option {
            MobilityOption::BindingRefreshAdvice { interval } => {
                g.refresh_advice.get_or_insert(interval);
            }
            MobilityOption::AlternateCareOf(a) => {
                g.alt_care_of.get_or_insert(a);
            }
            MobilityOption::NonceIndices { home, care_of } => {
                g.nonce_indices.get_or_insert((home, care_of));
            }
            MobilityOption::BindingAuthData(a) => g.bad = Some((offset, a)),
            MobilityOption::Pad1 | MobilityOption::PadN { .. } | MobilityOption::Unknown { .. } => {}
        }
    }
    Ok(g)
}

/// Offset (from the start of the Mobility Header) of the Binding Authorization Data option
/// of the BU or BA `mh`, if it has one; an error if the options are malformed or BAD is not
/// the last option.
pub fn bad_offset(mh: &[u8]) -> Result<Option<usize>> {
    let h = Header::new_checked(mh)?;
    let start = match h.mh_type() {
        mh_type::BINDING_UPDATE => field::BU_OPTIONS,
        mh_type::BINDING_ACK => field::BA_OPTIONS,
        _ => return Ok(None),
    };
    if h.message().len() < start {
        return Err(Error::Truncated { layer: LAYER, required: start, len: h.message().len() });
    }
    Ok(gather(h.message(), start)?.bad.map(|(o, _)| o))
}

/// The bytes the authenticator covers (RFC 6275 §5.2.6, §6.2.7), in order: the Mobility
/// Header up to the checksum, two zero bytes standing for the checksum, and the rest up to
/// and including the BAD option's type and length. Hash the three slices in sequence, after
/// `care-of address | correspondent address`.
pub fn authenticated_parts(mh: &[u8]) -> Result<[&[u8]; 3]> {
    let Some(bad) = bad_offset(mh)? else {
        return Err(Error::Malformed { layer: LAYER, what: "missing binding authorization data" });
    };
    Ok([&mh[..field::CHECKSUM.start], &[0, 0], &mh[field::CHECKSUM.end..bad + 2]])
}

/// Stores `authenticator` into the BAD option of the BU or BA `mh`.
pub fn set_authenticator(mh: &mut [u8], authenticator: &[u8; AUTHENTICATOR_LEN]) -> Result<()> {
    let Some(bad) = bad_offset(mh)? else {
        return Err(Error::Malformed { layer: LAYER, what: "missing binding authorization data" });
    };
    mh[bad + 2..bad + 2 + AUTHENTICATOR_LEN].copy_from_slice(authenticator);
    Ok(())
}

/// Writes options at chosen alignments with Pad1/PadN (§6.2), then pads to a multiple of 8.
pub(crate) struct OptionWriter<'a> {
    pub(crate) buf: &'a mut [u8],
    pub(crate) pos: usize,
}

impl<'a> OptionWriter<'a> {
    /// Bytes needed to reach `pos ≡ off (mod n)`.
    pub(crate) fn pad_len(pos: usize, n: usize, off: usize) -> usize {
        (off + n - pos % n) % n
    }

    fn pad(&mut self, count: usize) {
        match count {
            0 => {}
            1 => self.buf[self.pos] = opt_type::PAD1,
            _ => {
                self.buf[self.pos] = opt_type::PADN;
                self.buf[self.pos + 1] = (count - 2) as u8;
                self.buf[self.pos + 2..self.pos + count].fill(0);
            }
        }
        self.pos += count;
    }

    pub(crate) fn option(&mut self, n: usize, off: usize, kind: u8, data: &[u8]) -> usize {
        self.pad(Self::pad_len(self.pos, n, off));
        let at = self.pos;
        self.buf[at] = kind;
        self.buf[at + 1] = data.len() as u8;
        self.buf[at + 2..at + 2 + data.len()].copy_from_slice(data);
        self.pos += 2 + data.len();
        at
    }

    pub(crate) fn finish(mut self) -> usize {
        self.pad(Self::pad_len(self.pos, 8, 0));
        self.pos
    }
}

/// Length of a message with `fixed` bytes and the given options at their alignments
/// (n, off, data length), padded to a multiple of 8.
pub(crate) fn laid_out_len(fixed: usize, opts: &[(usize, usize, usize)]) -> usize {
    let mut pos = fixed;
    for &(n, off, len) in opts {
        pos += OptionWriter::pad_len(pos, n, off) + 2 + len;
    }
    pos + OptionWriter::pad_len(pos, 8, 0)
}

pub(crate) fn write_fixed(buf: &mut [u8], kind: u8, total: usize) {
    buf[field::PAYLOAD_PROTO] = PAYLOAD_PROTO_NONE;
    buf[field::HEADER_LEN] = (total / 8 - 1) as u8;
    buf[field::MH_TYPE] = kind;
    buf[field::RESERVED] = 0;
    buf[field::CHECKSUM].fill(0);
}

fn check_room(buf: &[u8], required: usize) -> Result<()> {
    if buf.len() < required {
        return Err(Error::NoRoom { layer: LAYER, required, len: buf.len() });
    }
    Ok(())
}

/// Checks `mh` is a whole Mobility Header of `kind` with at least its minimum Header Len.
pub(crate) fn checked_message(mh: &[u8], kind: u8) -> Result<&[u8]> {
    let h = Header::new_checked(mh)?;
    if h.mh_type() != kind {
        return Err(Error::Malformed { layer: LAYER, what: "mh type" });
    }
    if Some(h.header_len()) < min_header_len(kind) {
        return Err(Error::Malformed { layer: LAYER, what: "header len" });
    }
    Ok(&mh[..h.header_len_bytes()])
}

pub(crate) fn be16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

fn arr8(b: &[u8], r: core::ops::Range<usize>) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[r]);
    a
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

macro_rules! test_init {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            pub cookie: [u8; 8],
        }

        impl $name {
            pub const MH_TYPE: u8 = $kind;

            pub fn parse(mh: &[u8]) -> Result<Self> {
                let m = checked_message(mh, $kind)?;
                Ok($name { cookie: arr8(m, field::INIT_COOKIE) })
            }

            pub fn buffer_len(&self) -> usize {
                field::TEST_INIT_OPTIONS
            }

            /// Writes the message with a zero checksum (see [`fill_checksum`]).
            pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
                check_room(buf, self.buffer_len())?;
                write_fixed(buf, $kind, self.buffer_len());
                buf[6..8].fill(0);
                buf[field::INIT_COOKIE].copy_from_slice(&self.cookie);
                Ok(())
            }

            pub fn to_bytes(&self) -> Vec<u8> {
                let mut v = vec![0; self.buffer_len()];
                self.emit(&mut v).expect("sized by buffer_len");
                v
            }
        }
    };
}

test_init!(
    /// Home Test Init (RFC 6275 §6.1.3), sent by the mobile node through its home agent.
    HomeTestInit,
    mh_type::HOME_TEST_INIT
);
test_init!(
    /// Care-of Test Init (RFC 6275 §6.1.4), sent directly from the care-of address.
    CareOfTestInit,
    mh_type::CARE_OF_TEST_INIT
);

macro_rules! test_msg {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            pub nonce_index: u16,
            pub cookie: [u8; 8],
            pub token: [u8; 8],
        }

        impl $name {
            pub const MH_TYPE: u8 = $kind;

            pub fn parse(mh: &[u8]) -> Result<Self> {
                let m = checked_message(mh, $kind)?;
                Ok($name {
                    nonce_index: be16(m, field::NONCE_INDEX),
                    cookie: arr8(m, field::TEST_COOKIE),
                    token: arr8(m, field::KEYGEN_TOKEN),
                })
            }

            pub fn buffer_len(&self) -> usize {
                field::TEST_OPTIONS
            }

            /// Writes the message with a zero checksum (see [`fill_checksum`]).
            pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
                check_room(buf, self.buffer_len())?;
                write_fixed(buf, $kind, self.buffer_len());
                buf[field::NONCE_INDEX].copy_from_slice(&self.nonce_index.to_be_bytes());
                buf[field::TEST_COOKIE].copy_from_slice(&self.cookie);
                buf[field::KEYGEN_TOKEN].copy_from_slice(&self.token);
                Ok(())
            }

            pub fn to_bytes(&self) -> Vec<u8> {
                let mut v = vec![0; self.buffer_len()];
                self.emit(&mut v).expect("sized by buffer_len");
                v
            }
        }
    };
}

test_msg!(
    /// Home Test (RFC 6275 §6.1.5): home nonce index, the HoTI's cookie, home keygen token.
    HomeTest,
    mh_type::HOME_TEST
);
test_msg!(
    /// Care-of Test (RFC 6275 §6.1.6): care-of nonce index, cookie, care-of keygen token.
    CareOfTest,
    mh_type::CARE_OF_TEST
);

/// Binding Update (RFC 6275 §6.1.7) with the options a return-routability BU uses.
///
/// Canonical layout on emit: 12 fixed bytes, Nonce Indices (2n) at 12, Alternate Care-of
/// Address (8n+6), Binding Authorization Data (8n+2) last, then padding to 8n.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BindingUpdate {
    pub seq: u16,
    /// A: the sender wants a Binding Acknowledgement.
    pub ack: bool,
    /// H: home registration.
    pub home_reg: bool,
    /// L: link-local address compatibility.
    pub link_local: bool,
    /// K: key management mobility capability.
    pub key_mgmt: bool,
    /// Requested lifetime in units of 4 seconds.
    pub lifetime_units: u16,
    /// (home nonce index, care-of nonce index).
    pub nonce_indices: Option<(u16, u16)>,
    pub alt_care_of: Option<Ipv6Addr>,
    /// A Binding Authorization Data option is present (parse) or wanted (emit).
    pub has_bad: bool,
    /// Its authenticator (zero when absent; emitted as is, normally zero then signed).
    pub authenticator: [u8; AUTHENTICATOR_LEN],
    /// Offset of the BAD option from the start of the MH (parse: where it was; emit: where
    /// [`BindingUpdate::emit`] puts it, see [`BindingUpdate::emitted_bad_offset`]).
    pub bad_offset: Option<usize>,
}

impl BindingUpdate {
    pub const MH_TYPE: u8 = mh_type::BINDING_UPDATE;

    pub fn parse(mh: &[u8]) -> Result<Self> {
        let m = checked_message(mh, mh_type::BINDING_UPDATE)?;
        let flags = be16(m, field::BU_FLAGS);
        let g = gather(m, field::BU_OPTIONS)?;
        Ok(BindingUpdate {
            seq: be16(m, field::BU_SEQUENCE),
            ack: flags & bu_flags::ACK != 0,
            home_reg: flags & bu_flags::HOME_REGISTRATION != 0,
            link_local: flags & bu_flags::LINK_LOCAL != 0,
            key_mgmt: flags & bu_flags::KEY_MANAGEMENT != 0,
            lifetime_units: be16(m, field::BU_LIFETIME),
            nonce_indices: g.nonce_indices,
            alt_care_of: g.alt_care_of,
            has_bad: g.bad.is_some(),
            authenticator: g.bad.map(|(_, a)| a).unwrap_or_default(),
            bad_offset: g.bad.map(|(o, _)| o),
        })
    }

    fn layout(&self) -> ([(usize, usize, usize); 3], usize) {
        let mut opts = [(0, 0, 0); 3];
        let mut n = 0;
        if self.nonce_indices.is_some() {
            opts[n] = (2, 0, 4);
            n += 1;
        }
        if self.alt_care_of.is_some() {
            opts[n] = (8, 6, 16);
            n += 1;
        }
        if self.has_bad {
            opts[n] = (8, 2, AUTHENTICATOR_LEN);
            n += 1;
        }
        (opts, n)
    }

    pub fn buffer_len(&self) -> usize {
        let (opts, n) = self.layout();
        laid_out_len(field::BU_OPTIONS, &opts[..n])
    }

    /// Where [`BindingUpdate::emit`] places the BAD option, if `has_bad`.
    pub fn emitted_bad_offset(&self) -> Option<usize> {
        if !self.has_bad {
            return None;
        }
        let (opts, n) = self.layout();
        let mut pos = field::BU_OPTIONS;
        for &(a, off, len) in &opts[..n - 1] {
            pos += OptionWriter::pad_len(pos, a, off) + 2 + len;
        }
        Some(pos + OptionWriter::pad_len(pos, 8, 2))
    }

    pub fn flags(&self) -> u16 {
        (if self.ack { bu_flags::ACK } else { 0 })
            | (if self.home_reg { bu_flags::HOME_REGISTRATION } else { 0 })
            | (if self.link_local { bu_flags::LINK_LOCAL } else { 0 })
            | (if self.key_mgmt { bu_flags::KEY_MANAGEMENT } else { 0 })
    }

    /// Writes the message with a zero checksum; sign it, then [`fill_checksum`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let total = self.buffer_len();
        check_room(buf, total)?;
        write_fixed(buf, mh_type::BINDING_UPDATE, total);
        buf[field::BU_SEQUENCE].copy_from_slice(&self.seq.to_be_bytes());
        buf[field::BU_FLAGS].copy_from_slice(&self.flags().to_be_bytes());
        buf[field::BU_LIFETIME].copy_from_slice(&self.lifetime_units.to_be_bytes());
        let mut w = OptionWriter { buf: &mut buf[..total], pos: field::BU_OPTIONS };
        if let Some((home, care_of)) = self.nonce_indices {
            let mut d = [0u8; 4];
            d[..2].copy_from_slice(&home.to_be_bytes());
            d[2..].copy_from_slice(&care_of.to_be_bytes());
            w.option(2, 0, opt_type::NONCE_INDICES, &d);
        }
        if let Some(a) = self.alt_care_of {
            w.option(8, 6, opt_type::ALTERNATE_CARE_OF, &a.octets());
        }
        if self.has_bad {
            w.option(8, 2, opt_type::BINDING_AUTH_DATA, &self.authenticator);
        }
        w.finish();
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![0; self.buffer_len()];
        self.emit(&mut v).expect("sized by buffer_len");
        v
    }

    /// True for a request to delete the binding (RFC 6275 §9.5.1): lifetime zero, or the
    /// care-of address equal to the home address.
    pub fn is_deregistration(&self, care_of: &Ipv6Addr, home: &Ipv6Addr) -> bool {
        self.lifetime_units == 0 || care_of == home
    }
}

/// Binding Acknowledgement (RFC 6275 §6.1.8).
///
/// Canonical layout on emit: with BAD, PadN(6 bytes) at 12 and BAD at 18 (32 bytes); without,
/// PadN(4 bytes) at 12 (16 bytes). A Binding Refresh Advice (2n) goes before BAD if asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BindingAck {
    pub status: u8,
    pub key_mgmt: bool,
    pub seq: u16,
    /// Granted lifetime in units of 4 seconds.
    pub lifetime_units: u16,
    pub refresh_advice: Option<u16>,
    /// A BAD option is present (parse) or wanted (emit).
    pub with_bad: bool,
    pub authenticator: [u8; AUTHENTICATOR_LEN],
}

impl BindingAck {
    pub const MH_TYPE: u8 = mh_type::BINDING_ACK;

    pub fn parse(mh: &[u8]) -> Result<Self> {
        let m = checked_message(mh, mh_type::BINDING_ACK)?;
        let g = gather(m, field::BA_OPTIONS)?;
        Ok(BindingAck {
            status: m[field::BA_STATUS],
            key_mgmt: m[field::BA_FLAGS] & BA_FLAG_KEY_MANAGEMENT != 0,
            seq: be16(m, field::BA_SEQUENCE),
            lifetime_units: be16(m, field::BA_LIFETIME),
            refresh_advice: g.refresh_advice,
            with_bad: g.bad.is_some(),
            authenticator: g.bad.map(|(_, a)| a).unwrap_or_default(),
        })
    }

    fn layout(&self) -> ([(usize, usize, usize); 2], usize) {
        let mut opts = [(0, 0, 0); 2];
        let mut n = 0;
        if self.refresh_advice.is_some() {
            opts[n] = (2, 0, 2);
            n += 1;
        }
        if self.with_bad {
            opts[n] = (8, 2, AUTHENTICATOR_LEN);
            n += 1;
        }
        (opts, n)
    }

    pub fn buffer_len(&self) -> usize {
        let (opts, n) = self.layout();
        laid_out_len(field::BA_OPTIONS, &opts[..n])
    }

    /// Writes the message with a zero checksum; sign it if `with_bad`, then fill the checksum.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let total = self.buffer_len();
        check_room(buf, total)?;
        write_fixed(buf, mh_type::BINDING_ACK, total);
        buf[field::BA_STATUS] = self.status;
        buf[field::BA_FLAGS] = if self.key_mgmt { BA_FLAG_KEY_MANAGEMENT } else { 0 };
        buf[field::BA_SEQUENCE].copy_from_slice(&self.seq.to_be_bytes());
        buf[field::BA_LIFETIME].copy_from_slice(&self.lifetime_units.to_be_bytes());
        let mut w = OptionWriter { buf: &mut buf[..total], pos: field::BA_OPTIONS };
        if let Some(i) = self.refresh_advice {
            w.option(2, 0, opt_type::BINDING_REFRESH_ADVICE, &i.to_be_bytes());
        }
        if self.with_bad {
            w.option(8, 2, opt_type::BINDING_AUTH_DATA, &self.authenticator);
        }
        w.finish();
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![0; self.buffer_len()];
        self.emit(&mut v).expect("sized by buffer_len");
        v
    }
}

/// Binding Error (RFC 6275 §6.1.9): 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingError {
    pub status: u8,
    pub home: Ipv6Addr,
}

impl BindingError {
    pub const MH_TYPE: u8 = mh_type::BINDING_ERROR;

    pub fn parse(mh: &[u8]) -> Result<Self> {
        let m = checked_message(mh, mh_type::BINDING_ERROR)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(&m[field::BE_HOME]);
        Ok(BindingError { status: m[field::BE_STATUS], home: Ipv6Addr::from(a) })
    }

    pub fn buffer_len(&self) -> usize {
        field::BE_OPTIONS
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        check_room(buf, self.buffer_len())?;
        write_fixed(buf, mh_type::BINDING_ERROR, self.buffer_len());
        buf[field::BE_STATUS] = self.status;
        buf[field::BE_STATUS + 1] = 0;
        buf[field::BE_HOME].copy_from_slice(&self.home.octets());
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![0; self.buffer_len()];
        self.emit(&mut v).expect("sized by buffer_len");
        v
    }
}

/// Binding Refresh Request (RFC 6275 §6.1.2): 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BindingRefreshRequest;

impl BindingRefreshRequest {
    pub const MH_TYPE: u8 = mh_type::BINDING_REFRESH_REQUEST;

    pub fn parse(mh: &[u8]) -> Result<Self> {
        checked_message(mh, mh_type::BINDING_REFRESH_REQUEST)?;
        Ok(BindingRefreshRequest)
    }

    pub fn buffer_len(&self) -> usize {
        field::BRR_OPTIONS
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        check_room(buf, self.buffer_len())?;
        write_fixed(buf, mh_type::BINDING_REFRESH_REQUEST, self.buffer_len());
        buf[6..8].fill(0);
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![0; self.buffer_len()];
        self.emit(&mut v).expect("sized by buffer_len");
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn hoa() -> Ipv6Addr {
        "2001:db8:1::100".parse().unwrap()
    }
    fn coa() -> Ipv6Addr {
        "2001:db8:2::200".parse().unwrap()
    }
    fn mn2() -> Ipv6Addr {
        "2001:db8:3::300".parse().unwrap()
    }
    const COOKIE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    // Known answers of rfc-notes.md (checked independently with Python's hmac/hashlib).
    const HOT: &str = "3b020300b90c00010102030405060708c71a754160cffb9a";
    const COT: &str = "3b0204007cc500020102030405060708e24f4365fdaeafa7";
    const BU: &str = "3b030500962f001080000064040400010002050c61fbc778180698092476422e";
    const BA: &str = "3b030600da4a000000100064010400000000050cbfc85ae5ca114d879e53ad75";

    #[test]
    fn home_test_known_answer() {
        let hot = HomeTest { nonce_index: 1, cookie: COOKIE, token: hex("c71a754160cffb9a").try_into().unwrap() };
        let mut b = hot.to_bytes();
        fill_checksum(&mut b, &mn2(), &hoa()).unwrap();
        assert_eq!(b, hex(HOT));
        assert_eq!(HomeTest::parse(&b).unwrap(), hot);
        assert!(verify_checksum(&mn2(), &hoa(), &b));
    }

    #[test]
    fn care_of_test_known_answer() {
        let cot = CareOfTest { nonce_index: 2, cookie: COOKIE, token: hex("e24f4365fdaeafa7").try_into().unwrap() };
        let mut b = cot.to_bytes();
        fill_checksum(&mut b, &mn2(), &coa()).unwrap();
        assert_eq!(b, hex(COT));
        assert_eq!(CareOfTest::parse(&b).unwrap(), cot);
        assert!(CareOfTest::parse(&hex(HOT)).is_err(), "type is checked");
    }

    #[test]
    fn binding_update_known_layout() {
        let want = hex(BU);
        let bu = BindingUpdate { seq: 0x10, ack: true, lifetime_units: 100, nonce_indices: Some((1, 2)), has_bad: true, ..Default::default() };
        assert_eq!(bu.buffer_len(), 32);
        assert_eq!(bu.emitted_bad_offset(), Some(18));
        let mut b = bu.to_bytes();
        set_authenticator(&mut b, want[20..32].try_into().unwrap()).unwrap();
        // BU checksum: source = home address (HAO), destination = MN2.
        fill_checksum(&mut b, &hoa(), &mn2()).unwrap();
        assert_eq!(b, want);
        let p = BindingUpdate::parse(&b).unwrap();
        assert_eq!(p.seq, 0x10);
        assert!(p.ack && !p.home_reg && !p.link_local && !p.key_mgmt);
        assert_eq!(p.nonce_indices, Some((1, 2)));
        assert_eq!(p.bad_offset, Some(18));
        assert_eq!(&p.authenticator[..], &want[20..]);
        let parts = authenticated_parts(&b).unwrap();
        assert_eq!(parts[0], &want[..4]);
        assert_eq!(parts[1], &[0, 0]);
        assert_eq!(parts[2], &want[6..20]);
    }

    #[test]
    fn binding_ack_known_layout() {
        let want = hex(BA);
        let ba = BindingAck { status: 0, seq: 0x10, lifetime_units: 100, with_bad: true, ..Default::default() };
        let mut b = ba.to_bytes();
        assert_eq!(b.len(), 32);
        set_authenticator(&mut b, want[20..32].try_into().unwrap()).unwrap();
        // Final destination is the RH2 home address.
        fill_checksum(&mut b, &mn2(), &hoa()).unwrap();
        assert_eq!(b, want);
        let p = BindingAck::parse(&b).unwrap();
        assert_eq!(p, BindingAck { authenticator: want[20..32].try_into().unwrap(), ..ba });
    }

    #[test]
    fn binding_ack_without_bad_is_16_bytes() {
        let ba = BindingAck { status: 136, seq: 7, ..Default::default() };
        let b = ba.to_bytes();
        assert_eq!(b, [59, 1, 6, 0, 0, 0, 136, 0, 0, 7, 0, 0, 1, 2, 0, 0]);
        assert_eq!(bad_offset(&b).unwrap(), None);
        assert!(authenticated_parts(&b).is_err());
    }

    #[test]
    fn bu_with_alternate_care_of_layout() {
        let bu = BindingUpdate { seq: 1, nonce_indices: Some((3, 4)), alt_care_of: Some(coa()), has_bad: true, ..Default::default() };
        let b = bu.to_bytes();
        assert_eq!(b.len() % 8, 0);
        let p = BindingUpdate::parse(&b).unwrap();
        assert_eq!(p.alt_care_of, Some(coa()));
        assert_eq!(p.nonce_indices, Some((3, 4)));
        assert_eq!(p.bad_offset, bu.emitted_bad_offset());
        let offs: Vec<_> = Options::new(&b, 12).map(|o| o.unwrap()).collect();
        for o in offs {
            match o.option {
                MobilityOption::AlternateCareOf(_) => assert_eq!(o.offset % 8, 6),
                MobilityOption::BindingAuthData(_) => assert_eq!(o.offset % 8, 2),
                MobilityOption::NonceIndices { .. } => assert_eq!(o.offset % 2, 0),
                _ => {}
            }
        }
    }

    #[test]
    fn test_init_round_trip_and_minimum() {
        let h = HomeTestInit { cookie: COOKIE };
        let b = h.to_bytes();
        assert_eq!(b, [59, 1, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(HomeTestInit::parse(&b).unwrap(), h);
        let c = CareOfTestInit { cookie: COOKIE }.to_bytes();
        assert_eq!(c[2], 2);
        // Header Len 0 on a HoTI: a whole MH, but too short for the type.
        let mut short = b[..8].to_vec();
        short[1] = 0;
        assert!(Header::new_checked(&short[..]).is_ok());
        assert_eq!(HomeTestInit::parse(&short), Err(Error::Malformed { layer: LAYER, what: "header len" }));
    }

    #[test]
    fn binding_error_and_brr_round_trip() {
        let be = BindingError { status: 2, home: hoa() };
        let b = be.to_bytes();
        assert_eq!(b.len(), 24);
        assert_eq!(b[1], 2);
        assert_eq!(BindingError::parse(&b).unwrap(), be);
        let r = BindingRefreshRequest.to_bytes();
        assert_eq!(r, [59, 0, 0, 0, 0, 0, 0, 0]);
        assert!(BindingRefreshRequest::parse(&r).is_ok());
    }

    #[test]
    fn header_checks_declared_length() {
        let b = hex(BU);
        for n in 0..b.len() {
            assert!(matches!(Header::new_checked(&b[..n]), Err(Error::Truncated { .. })), "len {n}");
        }
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!(h.payload_proto(), 59);
        assert_eq!(h.header_len(), 3);
        assert_eq!(h.header_len_bytes(), 32);
        assert_eq!(h.mh_type(), 5);
        assert_eq!(h.checksum(), 0x962f);
        assert_eq!(h.body().len(), 26);
        assert!(h.verify_checksum(&hoa(), &mn2()));
        assert!(!h.verify_checksum(&coa(), &mn2()));
        // Extra bytes after the MH are not part of it.
        let mut longer = b.clone();
        longer.extend_from_slice(&[0xff; 8]);
        assert_eq!(Header::new_checked(&longer[..]).unwrap().message(), &b[..]);
    }

    #[test]
    fn min_header_lens() {
        assert_eq!(min_header_len(0), Some(0));
        assert_eq!(min_header_len(1), Some(1));
        assert_eq!(min_header_len(2), Some(1));
        assert_eq!(min_header_len(3), Some(2));
        assert_eq!(min_header_len(4), Some(2));
        assert_eq!(min_header_len(5), Some(1));
        assert_eq!(min_header_len(6), Some(1));
        assert_eq!(min_header_len(7), Some(2));
        assert_eq!(min_header_len(8), None);
    }

    #[test]
    fn option_overrun_is_an_error() {
        let mut b = hex(BU);
        b[13] = 20; // Nonce Indices claims 20 bytes
        assert!(matches!(BindingUpdate::parse(&b), Err(Error::Truncated { .. })));
        b[13] = 2; // wrong length for a known option
        assert!(matches!(BindingUpdate::parse(&b), Err(Error::Malformed { .. })));
        // A lone type byte at the end.
        let mut it = Options::new(&[1, 0, 5], 0);
        assert_eq!(it.next(), Some(Ok(OptionAt { offset: 0, option: MobilityOption::PadN { len: 0 } })));
        assert!(matches!(it.next(), Some(Err(Error::Truncated { .. }))));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn unknown_options_skipped_and_bad_must_be_last() {
        let mut bu = BindingUpdate { seq: 1, nonce_indices: Some((1, 1)), has_bad: true, ..Default::default() };
        let b = bu.to_bytes();
        // Replace the trailing part: BAD followed by padding is refused.
        let mut trailing = b.clone();
        trailing.extend_from_slice(&[1, 6, 0, 0, 0, 0, 0, 0]);
        trailing[1] += 1;
        assert_eq!(BindingUpdate::parse(&trailing), Err(Error::Malformed { layer: OPT_LAYER, what: "binding authorization data not last" }));
        // An unknown option is skipped.
        bu.has_bad = false;
        let mut u = bu.to_bytes(); // 12 + NI(6) + PadN(6) = 24
        u[18] = 200; // turn the PadN into an unknown option of the same length
        let p = BindingUpdate::parse(&u).unwrap();
        assert_eq!(p.nonce_indices, Some((1, 1)));
        assert!(!p.has_bad);
    }

    #[test]
    fn error_display() {
        let e = Header::new_checked(&[59u8, 3, 5][..]).unwrap_err();
        assert_eq!(e.to_string(), "mobility: truncated, 6 bytes required, 3 present");
        let e = Header::new_checked(&[59u8, 3, 5, 0, 0, 0, 0, 0][..]).unwrap_err();
        assert_eq!(e.to_string(), "mobility: truncated, 32 bytes required, 8 present");
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..96)) {
            let _ = Header::new_checked(&data[..]).map(|h| (h.body().len(), h.checksum()));
            let _ = HomeTestInit::parse(&data);
            let _ = CareOfTestInit::parse(&data);
            let _ = HomeTest::parse(&data);
            let _ = CareOfTest::parse(&data);
            let _ = BindingAck::parse(&data);
            let _ = BindingError::parse(&data);
            let _ = BindingRefreshRequest::parse(&data);
            let _ = bad_offset(&data);
            let _ = authenticated_parts(&data);
            for o in Options::new(&data, 0) { let _ = o; }
            if let Ok(bu) = BindingUpdate::parse(&data) {
                // Whatever parsed re-emits into something that parses the same way.
                let again = BindingUpdate::parse(&bu.to_bytes()).unwrap();
                proptest::prop_assert_eq!(again.nonce_indices, bu.nonce_indices);
                proptest::prop_assert_eq!(again.seq, bu.seq);
                proptest::prop_assert_eq!(again.has_bad, bu.has_bad);
            }
        }
    }
}
