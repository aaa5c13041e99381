//! Randomness, injected so tests are deterministic.

use std::fs::File;
use std::io::Read;

/// A source of random bytes. Key material (Kcn, nonces) comes from here.
pub trait Entropy {
    fn fill(&mut self, out: &mut [u8]);
}

/// The kernel CSPRNG through `/dev/urandom`.
pub struct OsEntropy {
    file: File,
}

impl OsEntropy {
    pub fn new() -> std::io::Result<Self> {
        Ok(OsEntropy { file: File::open("/dev/urandom")? })
    }
}

impl Entropy for OsEntropy {
    fn fill(&mut self, out: &mut [u8]) {
        // /dev/urandom never blocks or runs short once the system is up; a read error
        // would leave keys predictable, which is worse than stopping.
        self.file.read_exact(out).expect("reading /dev/urandom");
    }
}

/// Deterministic bytes for tests: a counter-driven xorshift stream, or fixed values
/// queued with [`TestEntropy::push`] (used first, in order).
#[derive(Clone, Debug, Default)]
pub struct TestEntropy {
    state: u64,
    queued: std::collections::VecDeque<Vec<u8>>,
}

impl TestEntropy {
    pub fn new(seed: u64) -> Self {
        TestEntropy { state: seed | 1, queued: Default::default() }
    }

    /// The next `fill` call gets exactly these bytes (it must ask for the same length).
    pub fn push(&mut self, bytes: &[u8]) {
        self.queued.push_back(bytes.to_vec());
    }
}

impl Entropy for TestEntropy {
    fn fill(&mut self, out: &mut [u8]) {
        if let Some(q) = self.queued.pop_front() {
            assert_eq!(q.len(), out.len(), "queued entropy of the wrong length");
            out.copy_from_slice(&q);
            return;
        }
        for b in out {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = self.state as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_entropy_fills() {
        let mut e = OsEntropy::new().unwrap();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        e.fill(&mut a);
        e.fill(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn test_entropy_is_deterministic_and_queues() {
        let mut a = TestEntropy::new(7);
        let mut b = TestEntropy::new(7);
        let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        a.push(&[9; 8]);
        a.fill(&mut x);
        assert_eq!(x, [9; 8]);
    }
}
