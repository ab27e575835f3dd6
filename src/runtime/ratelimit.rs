//! Token-bucket rate limits keyed by client IP (new connections, REST requests) or held per
//! connection (messages). Shard-local: the kernel spreads clients over shards, so each shard
//! enforces the configured rate divided by the shard count.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// One token bucket: `rate` tokens per second, holding at most `burst`, in 8 bytes (it is
/// kept per connection and per tracked address). Time is milliseconds since an origin its
/// owner keeps (a connection's connect time, a limiter's creation), as a wrapping `u32`: a
/// refill across a gap longer than ~49 days can come out short once, never long.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f32,
    last_ms: u32,
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub fn new(burst: f64, now_ms: u32) -> Self {
        Self {
            tokens: burst as f32,
            last_ms: now_ms,
        }
    }

    /// Takes one token if there is one (refilling by the time passed since the last call).
    pub fn take(&mut self, rate: f64, burst: f64, now_ms: u32) -> bool {
        let elapsed_ms = now_ms.wrapping_sub(self.last_ms);
        self.last_ms = now_ms;
        let tokens = (f64::from(self.tokens) + f64::from(elapsed_ms) * rate / 1000.0).min(burst);
        let allowed = tokens >= 1.0;
        self.tokens = if allowed { tokens - 1.0 } else { tokens } as f32;
        allowed
    }
}

/// Milliseconds from `origin` to `now`, wrapping as a [`Bucket`]'s clock does.
pub fn millis_since(origin: Instant, now: Instant) -> u32 {
    now.saturating_duration_since(origin).as_millis() as u32
}

/// Most client addresses tracked per shard. The table has two generations of at most half this
/// each: when the current one fills, it becomes the previous one and the oldest is dropped, so
/// memory stays bounded under a flood of distinct (spoofed or IPv6) addresses. A dropped
/// address starts again with a full bucket: under such a flood the limit loosens for
/// addresses not seen recently, it never grows memory.
pub const MAX_TRACKED: usize = 65_536;

/// The address a limit applies to: IPv4 addresses one by one, IPv6 by /64 prefix (one host
/// usually holds a whole /64, so per-address limits would be free to evade).
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Two generations of buckets by key (see [`MAX_TRACKED`]).
struct Generations<K> {
    current: HashMap<K, Bucket>,
    previous: HashMap<K, Bucket>,
}

/// A token bucket per key (a client address, a connection), in a table bounded by
/// [`MAX_TRACKED`]; a rate of 0 disables it. Shard-local: no locks.
pub struct KeyedLimiter<K> {
    /// The buckets' time origin.
    origin: Instant,
    rate: f64,
    burst: f64,
    buckets: RefCell<Generations<K>>,
}

impl<K: std::hash::Hash + Eq + Copy> KeyedLimiter<K> {
    /// `rate` tokens per second for each key, holding at most `burst`.
    pub fn with_rate(rate: f64, burst: f64) -> Self {
        Self {
            origin: Instant::now(),
            rate,
            burst,
            buckets: RefCell::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
            }),
        }
    }

    /// Keys tracked now (monitoring and tests).
    pub fn tracked(&self) -> usize {
        let b = self.buckets.borrow();
        b.current.len() + b.previous.len()
    }

    /// Whether `key` may go ahead at `now` (taking a token if so).
    pub fn allow_at(&self, key: K, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let now_ms = millis_since(self.origin, now);
        let mut g = self.buckets.borrow_mut();
        if let Some(b) = g.current.get_mut(&key) {
            return b.take(self.rate, self.burst, now_ms);
        }
        let mut bucket = g
            .previous
            .remove(&key)
            .unwrap_or_else(|| Bucket::new(self.burst, now_ms));
        let allowed = bucket.take(self.rate, self.burst, now_ms);
        if g.current.len() >= MAX_TRACKED / 2 {
            g.previous = std::mem::take(&mut g.current);
        }
        g.current.insert(key, bucket);
        allowed
    }
}

/// Rate limit per client IP (IPv6: per /64); a rate of 0 disables it.
pub struct IpLimiter(KeyedLimiter<IpAddr>);

impl IpLimiter {
    /// `per_second` across the node, split over `shards`.
    pub fn new(per_second: u32, shards: usize) -> Self {
        let rate = per_second as f64 / shards.max(1) as f64;
        Self::with_rate(rate, rate.max(1.0))
    }

    /// A limiter of `rate` tokens per second on this shard, holding at most `burst`.
    pub fn with_rate(rate: f64, burst: f64) -> Self {
        Self(KeyedLimiter::with_rate(rate, burst))
    }

    /// Whether a request from `ip` may go ahead now.
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, Instant::now())
    }

    /// Addresses tracked now (monitoring and tests).
    pub fn tracked(&self) -> usize {
        self.0.tracked()
    }

    fn allow_at(&self, ip: IpAddr, now: Instant) -> bool {
        self.0.allow_at(limit_key(ip), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_across_the_wrap() {
        for t0 in [0u32, u32::MAX - 200] {
            let mut b = Bucket::new(2.0, t0);
            assert!(b.take(2.0, 2.0, t0));
            assert!(b.take(2.0, 2.0, t0));
            assert!(!b.take(2.0, 2.0, t0), "burst exhausted");
            let half = t0.wrapping_add(500);
            assert!(b.take(2.0, 2.0, half), "one token after 0.5 s (from {t0})");
            assert!(!b.take(2.0, 2.0, half));
            let long = half.wrapping_add(60_000);
            assert!(b.take(2.0, 2.0, long) && b.take(2.0, 2.0, long));
            assert!(!b.take(2.0, 2.0, long), "refilled to the burst, not beyond");
        }
    }

    #[test]
    fn ips_are_limited_separately_and_zero_disables() {
        let l = IpLimiter::new(2, 1);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Instant::now();
        assert!(l.allow_at(a, t) && l.allow_at(a, t));
        assert!(!l.allow_at(a, t));
        assert!(l.allow_at(b, t));
        let later = t + std::time::Duration::from_millis(500);
        assert!(l.allow_at(a, later), "one token back after 0.5 s at 2/s");
        assert!(!l.allow_at(a, later));
        let off = IpLimiter::new(0, 4);
        assert!((0..1000).all(|_| off.allow_at(a, t)));
    }

    #[test]
    fn an_address_flood_keeps_the_table_bounded() {
        let l = IpLimiter::new(1, 1);
        let t = Instant::now();
        for i in 0..(3 * MAX_TRACKED as u32) {
            l.allow_at(IpAddr::V4(std::net::Ipv4Addr::from(i)), t);
            assert!(l.tracked() <= MAX_TRACKED);
        }
        // A recent address is still limited.
        let last = IpAddr::V4(std::net::Ipv4Addr::from(3 * MAX_TRACKED as u32 - 1));
        assert!(!l.allow_at(last, t));
    }

    #[test]
    fn ipv6_is_limited_per_64() {
        let l = IpLimiter::new(1, 1);
        let t = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(l.allow_at(a, t));
        assert!(!l.allow_at(b, t), "same /64");
        assert!(l.allow_at(c, t), "another /64");
    }
}
