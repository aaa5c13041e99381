//! The LMA's end of the MAG–LMA IPv6-in-IPv6 tunnel, inside a test's LMA namespace, for
//! tests that play the mobile node MN1 themselves: a raw IPv6 socket for next header 41.
//! The kernel adds the outer header on send and strips it on receive, and answers the
//! MAG's Neighbor Solicitations for the LMA address as usual.

use crate::netns::raw_ipv6_socket;
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

pub struct TunnelEnd {
    fd: OwnedFd,
}

impl TunnelEnd {
    /// Opens the socket in network namespace `ns` (a socket stays in the namespace it was
    /// created in, so a short-lived thread enters the namespace to create it).
    pub fn open(ns: &str) -> io::Result<TunnelEnd> {
        Ok(TunnelEnd { fd: raw_ipv6_socket(ns, 41)? })
    }

    /// Sends `inner` (an IPv6 packet) down the tunnel to the MAG at `mag`.
    pub fn send(&self, inner: &[u8], mag: &Ipv6Addr) -> io::Result<()> {
        // SAFETY: zeroed sockaddr_in6 is valid; fields set below.
        let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sa.sin6_addr.s6_addr = mag.octets();
        // SAFETY: valid buffer and address of the stated sizes.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                inner.as_ptr().cast(),
                inner.len(),
                0,
                (&sa as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The next packet up the tunnel within `timeout`: (outer source, inner IPv6 packet).
    pub fn recv(&self, timeout: Duration) -> Option<(Ipv6Addr, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if r <= 0 {
                return None;
            }
            // SAFETY: zeroed sockaddr_in6 is valid; recvfrom fills it.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            // SAFETY: valid buffer, address and length pointers.
            let n =
                unsafe { libc::recvfrom(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0, (&mut sa as *mut libc::sockaddr_in6).cast(), &mut len) };
            if n > 0 {
                return Some((Ipv6Addr::from(sa.sin6_addr.s6_addr), buf[..n as usize].to_vec()));
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }
}
