//! Token bucket for messages the MAG originates (ICMPv6 errors, RFC 4443 §2.4(f)).

use std::time::Duration;

pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// `rate` tokens per second, at most `burst` saved up; starts full.
    pub fn new(rate: u32, burst: u32) -> Self {
        TokenBucket { rate: f64::from(rate), burst: f64::from(burst.max(1)), tokens: f64::from(burst.max(1)), last: Duration::ZERO }
    }

    /// Takes a token at time `now` (monotonic), if one is there.
    pub fn take(&mut self, now: Duration) -> bool {
        let dt = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(10, 3);
        let t = Duration::from_secs(1);
        assert!(b.take(t) && b.take(t) && b.take(t));
        assert!(!b.take(t));
        assert!(!b.take(t + Duration::from_millis(50)));
        assert!(b.take(t + Duration::from_millis(100)));
        assert!(!b.take(t + Duration::from_millis(100)));
        // Long idle refills only up to the burst.
        let later = t + Duration::from_secs(60);
        assert!(b.take(later) && b.take(later) && b.take(later));
        assert!(!b.take(later));
    }

    #[test]
    fn zero_rate_allows_only_the_initial_burst() {
        let mut b = TokenBucket::new(0, 1);
        assert!(b.take(Duration::ZERO));
        assert!(!b.take(Duration::from_secs(100)));
    }
}
