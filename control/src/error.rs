//! What stops roagent, as one line naming the field, argument or part that failed.

use crate::config::ConfigError;
use dataplane::DpdkError;
use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// A configuration field is wrong: refused by validation, or at start by what it names
    /// (a device that does not probe, too few queues, an address that cannot be listened on).
    Config(ConfigError),
    /// A command-line argument.
    Arg { arg: &'static str, problem: String },
    /// DPDK failed while setting up `what` (eal, mempool, binding table, a ring, an lcore).
    Dpdk { what: String, source: DpdkError },
    /// The operating system refused `what` (a thread, /dev/urandom, a socket).
    Os { what: String, source: std::io::Error },
    /// Something else that stops start-up, with what to do about it.
    Startup { what: &'static str, problem: String },
    /// A running roagent's admin endpoint did not answer as expected (`roagent bindings`).
    Admin { addr: String, problem: String },
    /// A worker lcore returned an error.
    Worker,
}

impl Error {
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> Error {
        Error::Config(ConfigError { field: field.into(), problem: problem.into() })
    }

    pub fn dpdk(what: impl Into<String>) -> impl FnOnce(DpdkError) -> Error {
        let what = what.into();
        move |source| Error::Dpdk { what, source }
    }

    pub fn os(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Os { what, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "{e}"),
            Error::Arg { arg, problem } => write!(f, "{arg}: {problem}"),
            Error::Dpdk { what, source } => write!(f, "{what}: {source}"),
            Error::Os { what, source } => write!(f, "{what}: {source}"),
            Error::Startup { what, problem } => write!(f, "{what}: {problem}"),
            Error::Admin { addr, problem } => write!(f, "{addr}: {problem}"),
            Error::Worker => f.write_str("a worker lcore returned an error"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::Config(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_one_line_naming_what_failed() {
        let io = || std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address in use");
        let cases = [
            (
                Error::field("node[0].lma", "2001:db8:99::1 is not one of the configured [[lma]] addresses"),
                "node[0].lma: 2001:db8:99::1 is not one of the configured [[lma]] addresses",
            ),
            (
                Error::Arg { arg: "--log-level", problem: "\"loud\" is not one of error, warn, info, debug, trace".into() },
                "--log-level: \"loud\" is not one of error, warn, info, debug, trace",
            ),
            (Error::os("metrics.address: cannot listen on 127.0.0.1:1")(io()), "metrics.address: cannot listen on 127.0.0.1:1: Address in use"),
            (Error::Startup { what: "eal", problem: "no worker lcore".into() }, "eal: no worker lcore"),
            (Error::Admin { addr: "127.0.0.1:9477".into(), problem: "not an HTTP response".into() }, "127.0.0.1:9477: not an HTTP response"),
            (Error::Worker, "a worker lcore returned an error"),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
            assert!(!e.to_string().contains('\n'));
        }
    }
}
