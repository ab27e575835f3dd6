//! What the HTTP listeners of one shard hold: the shard they serve from, the manager users,
//! and the per-address and per-node limits of the API and manager ports.

use crate::auth::ManagerUser;
use crate::runtime::ratelimit::IpLimiter;
use crate::shard::Shard;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// `/manager/login` attempts allowed per client address and minute (brute-force protection).
pub const LOGIN_ATTEMPTS_PER_MINUTE: f64 = 10.0;

/// One shard's HTTP side.
pub struct ApiState {
    /// The state this shard owns, and its asks to other shards.
    pub shard: Rc<Shard>,
    /// `auth.users`.
    pub users: Arc<Vec<ManagerUser>>,
    /// REST requests per IP (`limits.apiRatePerIp`), on the API and the manager port.
    pub limiter: IpLimiter,
    /// `/manager/login` attempts per IP ([`LOGIN_ATTEMPTS_PER_MINUTE`]).
    pub login_limiter: IpLimiter,
    /// HTTP connections open on the whole node (`limits.maxHttpConnections`).
    pub http_conns: Arc<AtomicUsize>,
}

impl ApiState {
    /// The HTTP side of `shard`, counting connections against `http_conns`.
    pub fn new(
        shard: Rc<Shard>,
        users: Arc<Vec<ManagerUser>>,
        http_conns: Arc<AtomicUsize>,
    ) -> Rc<ApiState> {
        let shards = shard.ctx.slots.shards();
        let limiter = IpLimiter::new(shard.ctx.config.limits.api_rate_per_ip, shards);
        // The kernel spreads a client's connections over the shards: split rate and burst.
        let login_limiter = IpLimiter::with_rate(
            LOGIN_ATTEMPTS_PER_MINUTE / 60.0 / shards as f64,
            (LOGIN_ATTEMPTS_PER_MINUTE / shards as f64).max(1.0),
        );
        Rc::new(ApiState {
            shard,
            users,
            limiter,
            login_limiter,
            http_conns,
        })
    }

    /// The access policy of this server's listeners.
    pub fn policy(&self) -> super::access::Policy<'_> {
        super::access::Policy {
            config: &self.shard.ctx.config,
            users: &self.users,
        }
    }
}
