//! The one error type of the packet library: small, `Copy`, never allocates.

use core::fmt;

/// Why a packet was refused. Each variant is also a drop-reason label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header or message needs.
    Truncated { layer: &'static str, required: usize, len: usize },
    /// A field holds a value the layer does not accept.
    Malformed { layer: &'static str, what: &'static str },
    /// The extension-header chain is longer than the walk allows.
    ChainTooLong,
    /// A checksum does not verify.
    Checksum { layer: &'static str },
    /// The rewrite needs more room than the buffer has.
    NoRoom { layer: &'static str, required: usize, len: usize },
}

pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// A stable snake_case name for counters and metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Truncated { .. } => "truncated",
            Error::Malformed { .. } => "malformed",
            Error::ChainTooLong => "chain_too_long",
            Error::Checksum { .. } => "bad_checksum",
            Error::NoRoom { .. } => "no_room",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { layer, required, len } => {
                write!(f, "{layer}: truncated, {required} bytes required, {len} present")
            }
            Error::Malformed { layer, what } => write!(f, "{layer}: malformed {what}"),
            Error::ChainTooLong => write!(f, "ipv6: extension-header chain too long"),
            Error::Checksum { layer } => write!(f, "{layer}: checksum does not verify"),
            Error::NoRoom { layer, required, len } => {
                write!(f, "{layer}: needs {required} bytes of room, {len} available")
            }
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_layer_and_sizes() {
        let e = Error::Truncated { layer: "ipv6", required: 40, len: 12 };
        assert_eq!(e.to_string(), "ipv6: truncated, 40 bytes required, 12 present");
        assert_eq!(e.reason(), "truncated");
        assert_eq!(Error::ChainTooLong.to_string(), "ipv6: extension-header chain too long");
    }
}
