//! Token-bucket rate limits keyed by client IP (new connections, REST requests) or held per
//! connection (messages). Shard-local: the kernel spreads clients over shards, so each shard
//! enforces the configured rate divided by the shard count.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// One token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(burst: f64) -> Self {
        Self {
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one (refilling by the time passed).
    pub fn take(&mut self, rate: f64, burst: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Most IPs tracked before idle entries are forgotten (bounds memory under spoofed floods).
const MAX_TRACKED: usize = 65_536;

/// Rate limit per client IP; a rate of 0 disables it.
pub struct IpLimiter {
    rate: f64,
    burst: f64,
    buckets: RefCell<HashMap<IpAddr, Bucket>>,
}

impl IpLimiter {
    /// `per_second` across the node, split over `shards`.
    pub fn new(per_second: u32, shards: usize) -> Self {
        let rate = per_second as f64 / shards.max(1) as f64;
        Self {
            rate,
            burst: rate.max(1.0),
            buckets: RefCell::new(HashMap::new()),
        }
    }

    /// Whether a request from `ip` may go ahead now.
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, Instant::now())
    }

    fn allow_at(&self, ip: IpAddr, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let mut buckets = self.buckets.borrow_mut();
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&ip) {
            // Forget full buckets: they would allow anyway.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| {
                let mut probe = *b;
                probe.take(rate, burst, now);
                probe.tokens + 1.0 < burst
            });
        }
        let burst = self.burst;
        buckets
            .entry(ip)
            .or_insert_with(|| Bucket::new(burst))
            .take(self.rate, self.burst, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(2.0);
        assert!(b.take(2.0, 2.0, t0));
        assert!(b.take(2.0, 2.0, t0));
        assert!(!b.take(2.0, 2.0, t0), "burst exhausted");
        assert!(
            b.take(2.0, 2.0, t0 + Duration::from_millis(500)),
            "one token after 0.5 s"
        );
        assert!(!b.take(2.0, 2.0, t0 + Duration::from_millis(500)));
    }

    #[test]
    fn ips_are_limited_separately_and_zero_disables() {
        let l = IpLimiter::new(2, 1);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Instant::now();
        assert!(l.allow_at(a, t) && l.allow_at(a, t));
        assert!(!l.allow_at(a, t));
        assert!(l.allow_at(b, t));
        let off = IpLimiter::new(0, 4);
        assert!((0..1000).all(|_| off.allow_at(a, t)));
    }
}
