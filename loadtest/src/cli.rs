//! Command line: options, duration parsing and target URLs.

use clap::{Parser, ValueEnum};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Which workload to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// P pairs of users chat 1:1, each connection keeps W unacknowledged sends.
    Pairs,
    /// Groups of G members (created through REST), K online, senders at a rate.
    Group,
    /// Ramp N connections, hold them idle, report connects/s and server memory.
    Connect,
    /// `POST /message/send` with C concurrent keep-alive HTTP clients.
    Rest,
}

impl Scenario {
    /// Lower-case name (JSON, tables).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pairs => "pairs",
            Self::Group => "group",
            Self::Connect => "connect",
            Self::Rest => "rest",
        }
    }
}

/// `on` / `off` switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// `jindou-bench`: the load generator for Jindou and its peers.
#[derive(Parser, Debug, Clone)]
#[command(name = "jindou-bench", version, about, long_about = None)]
pub struct Args {
    /// Workload.
    #[arg(long, value_enum, default_value = "pairs")]
    pub scenario: Scenario,
    /// Server to load: tcp://HOST:PORT (Jindou, wkproto), ws://HOST:PORT[/PATH] (Jindou,
    /// wkproto over WebSocket), nats://, jetstream://, redis://, redis-stream://, mqtt://.
    /// Several Jindou targets (the nodes of a cluster), comma-separated: connection `i` goes to
    /// target `i mod n`, so the two users of a pair sit on different nodes.
    #[arg(long, default_value = "tcp://127.0.0.1:5100")]
    pub target: String,
    /// Jindou HTTP API (host:port or http://host:port; default http://127.0.0.1:5001), for
    /// `rest` and `group`; when given, `connect` reads the server's memory from its `/varz`.
    /// Several, comma-separated: `rest` client `c` uses API `c mod n`.
    #[arg(long)]
    pub api: Option<String>,
    /// Client threads (one monoio runtime each).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Measured time (e.g. 10s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured time before the measurement.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Longest wait after sending stops for outstanding acks and deliveries.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub drain: Duration,
    /// Payload bytes (at least 28: the sequence/timestamp header).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Total messages/s over all senders (open loop, latency from the intended send time);
    /// 0 = closed loop limited by the window.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Unacknowledged sends each sending connection may have outstanding.
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// Payload encryption: on = sealed with the connection key, off = NoEncrypt per packet.
    #[arg(long, value_enum, default_value = "off")]
    pub encrypt: OnOff,
    /// CONNECT token.
    #[arg(long, default_value = "")]
    pub token: String,
    /// Pairs (`pairs`).
    #[arg(long, default_value_t = 100)]
    pub pairs: usize,
    /// Groups (`group`).
    #[arg(long, default_value_t = 1)]
    pub groups: usize,
    /// Members per group (`group`).
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Online members per group (`group`; default all).
    #[arg(long)]
    pub online: Option<usize>,
    /// Sending members per group (`group`).
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// Connections (`connect`).
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,
    /// Connection attempts per second (`connect`, and the ramp of the other scenarios); 0 = unlimited.
    #[arg(long, default_value_t = 2000.0)]
    pub connect_rate: f64,
    /// How long `connect` holds the connections idle before measuring memory.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub hold: Duration,
    /// Server process id, for RSS growth (reads /proc/PID/status) when `--api` is not given.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Concurrent keep-alive HTTP clients (`rest`).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Loopback source addresses to spread connections over (127.0.0.1, .2, …); raised
    /// automatically above 25,000 connections per address (the ephemeral port range).
    #[arg(long, default_value_t = 1)]
    pub sources: usize,
    /// Idle time after which a connection sends PING.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub ping: Duration,
    /// User id prefix (default: random per run, so runs never see each other's messages).
    #[arg(long)]
    pub uid_prefix: Option<String>,
    /// Write the machine-readable result here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the latency histograms here (percentile distribution text).
    #[arg(long)]
    pub hdr: Option<PathBuf>,
    /// Free-form label stored in the JSON result (e.g. "sync=always enc=off").
    #[arg(long, default_value = "")]
    pub label: String,
    /// No live progress line.
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `10s`, `250ms`, `2m`, `1h`, `1.5s`, `100us` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}: expected e.g. 10s, 500ms, 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        u => return Err(format!("bad duration unit {u:?} in {s:?}")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The system a run loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Jindou over wkproto/TCP.
    Wk,
    /// NATS core PUB/SUB.
    Nats,
    /// Redis pub/sub.
    Redis,
    /// Redis streams (XADD, then XREAD by the receiver).
    RedisStream,
    /// NATS JetStream (file-stored stream, PubAck per message, push consumers).
    JetStream,
    /// MQTT 3.1.1 at QoS 1 (e.g. mosquitto).
    Mqtt,
}

impl Kind {
    /// URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Wk => "tcp",
            Self::Nats => "nats",
            Self::Redis => "redis",
            Self::RedisStream => "redis-stream",
            Self::JetStream => "jetstream",
            Self::Mqtt => "mqtt",
        }
    }
}

/// How a Jindou (wkproto) target carries its packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP (`tcp://`; also every non-Jindou kind).
    #[default]
    Tcp,
    /// Binary WebSocket messages (`ws://`).
    Ws,
}

/// A parsed `--target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Protocol.
    pub kind: Kind,
    /// Resolved loopback address.
    pub addr: SocketAddr,
    /// TCP or WebSocket (`ws://`, wkproto only).
    pub transport: Transport,
    /// Request path of a WebSocket upgrade (`/` unless the `ws://` URL names one).
    pub path: String,
}

/// Parses a target URL and insists on a loopback address (the tool never loads other hosts).
pub fn parse_target(url: &str) -> Result<Target, String> {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("tcp", url),
    };
    let kind = match scheme {
        "tcp" | "wk" | "jindou" | "ws" => Kind::Wk,
        "nats" => Kind::Nats,
        "redis" => Kind::Redis,
        "redis-stream" => Kind::RedisStream,
        "jetstream" => Kind::JetStream,
        "mqtt" => Kind::Mqtt,
        s => return Err(format!("unknown target scheme {s:?}")),
    };
    let (transport, hostport, path) = if scheme == "ws" {
        match rest.split_once('/') {
            Some((h, p)) => (Transport::Ws, h, format!("/{p}")),
            None => (Transport::Ws, rest, "/".to_string()),
        }
    } else {
        (Transport::Tcp, rest.trim_end_matches('/'), "/".to_string())
    };
    let addr = resolve_loopback(hostport)?;
    Ok(Target {
        kind,
        addr,
        transport,
        path,
    })
}

/// Parses a comma-separated list of targets (the nodes of a cluster); all of one kind.
pub fn parse_targets(urls: &str) -> Result<Vec<Target>, String> {
    let targets = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(parse_target)
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = targets.first() else {
        return Err("--target is empty".into());
    };
    if targets.len() > 1 && (first.kind != Kind::Wk || targets.iter().any(|t| t.kind != first.kind))
    {
        return Err("several targets must all be Jindou (tcp:// or ws://)".into());
    }
    Ok(targets)
}

/// Resolves a comma-separated list of `host:port` API addresses (loopback only).
pub fn resolve_loopbacks(s: &str) -> Result<Vec<SocketAddr>, String> {
    let apis = s
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(resolve_loopback)
        .collect::<Result<Vec<_>, _>>()?;
    if apis.is_empty() {
        return Err("--api is empty".into());
    }
    Ok(apis)
}

/// Resolves `host:port` (an optional `http://` is stripped) and refuses non-loopback addresses.
pub fn resolve_loopback(s: &str) -> Result<SocketAddr, String> {
    let s = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
    let addr = s
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {s:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{s:?} resolves to nothing"))?;
    if !is_loopback(addr.ip()) {
        return Err(format!(
            "{addr} is not a loopback address: jindou-bench only loads local servers"
        ));
    }
    Ok(addr)
}

/// The HTTP API address used when `--api` is not given.
pub const DEFAULT_API: &str = "http://127.0.0.1:5001";

/// Connections per loopback source address before another address is used.
pub const CONNS_PER_SOURCE: usize = 25_000;

/// Source addresses to use: at least `requested`, and enough that none carries more than
/// [`CONNS_PER_SOURCE`] connections.
pub fn auto_sources(requested: usize, conns: usize) -> usize {
    requested.max(conns.div_ceil(CONNS_PER_SOURCE)).min(250)
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

impl Args {
    /// Cross-option checks clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        if self.size < crate::payload::HEADER_LEN {
            return Err(format!(
                "--size must be at least {} bytes (sequence and timestamp header)",
                crate::payload::HEADER_LEN
            ));
        }
        if self.window == 0 {
            return Err("--window must be at least 1".into());
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return Err("--rate must be ≥ 0".into());
        }
        if self.duration.is_zero() {
            return Err("--duration must be positive".into());
        }
        if self.sources == 0 || self.sources > 250 {
            return Err("--sources must be in 1..=250".into());
        }
        if self.scenario == Scenario::Group {
            let online = self.online.unwrap_or(self.members);
            if online > self.members || online < 2 {
                return Err("--online must be in 2..=--members".into());
            }
            if self.senders == 0 || self.senders > online {
                return Err("--senders must be in 1..=--online".into());
            }
        }
        if self.scenario == Scenario::Pairs && self.pairs == 0 {
            return Err("--pairs must be at least 1".into());
        }
        Ok(())
    }

    /// The HTTP API address: `--api`, or [`DEFAULT_API`].
    pub fn api(&self) -> &str {
        self.api.as_deref().unwrap_or(DEFAULT_API)
    }

    /// Connections the scenario opens (per process).
    pub fn connection_count(&self) -> usize {
        match self.scenario {
            Scenario::Pairs => self.pairs * 2,
            Scenario::Group => self.groups * self.online_members(),
            Scenario::Connect => self.conns,
            Scenario::Rest => self.concurrency,
        }
    }

    /// The online members per group.
    pub fn online_members(&self) -> usize {
        self.online.unwrap_or(self.members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("100us").unwrap(), Duration::from_micros(100));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn targets() {
        let t = parse_target("tcp://127.0.0.1:5100").unwrap();
        assert_eq!(t.kind, Kind::Wk);
        assert_eq!(t.addr.port(), 5100);
        assert_eq!(
            parse_target("nats://127.0.0.1:4222").unwrap().kind,
            Kind::Nats
        );
        assert_eq!(
            parse_target("redis-stream://localhost:6379").unwrap().kind,
            Kind::RedisStream
        );
        assert_eq!(
            parse_target("jetstream://127.0.0.1:4222").unwrap().kind,
            Kind::JetStream
        );
        assert_eq!(
            parse_target("mqtt://127.0.0.1:1883/").unwrap().kind,
            Kind::Mqtt
        );
        assert!(
            parse_target("tcp://8.8.8.8:53").is_err(),
            "non-loopback refused"
        );
        assert!(parse_target("gopher://127.0.0.1:70").is_err());
        assert_eq!(
            resolve_loopback("http://127.0.0.1:5001/").unwrap().port(),
            5001
        );
        assert_eq!(t.transport, Transport::Tcp);
        let w = parse_target("ws://127.0.0.1:5200").unwrap();
        assert_eq!(
            (w.kind, w.transport, w.path.as_str()),
            (Kind::Wk, Transport::Ws, "/")
        );
        assert_eq!(w.addr.port(), 5200);
        let w = parse_target("ws://localhost:5200/chat?x=1").unwrap();
        assert_eq!((w.transport, w.path.as_str()), (Transport::Ws, "/chat?x=1"));
        assert!(parse_target("ws://10.0.0.1:5200/").is_err());
    }

    #[test]
    fn sources_scale_with_connections() {
        assert_eq!(auto_sources(1, 15_000), 1);
        assert_eq!(auto_sources(1, 60_000), 3);
        assert_eq!(auto_sources(4, 10), 4);
        let a =
            Args::try_parse_from(["jindou-bench", "--scenario", "group", "--groups", "3"]).unwrap();
        assert_eq!(a.connection_count(), 300);
    }

    #[test]
    fn cli_parses_and_validates() {
        let a = Args::try_parse_from([
            "jindou-bench",
            "--scenario",
            "pairs",
            "--pairs",
            "3",
            "--window",
            "4",
            "--encrypt",
            "on",
            "--duration",
            "3s",
            "--rate",
            "1000",
        ])
        .unwrap();
        assert_eq!(a.scenario, Scenario::Pairs);
        assert_eq!(a.pairs, 3);
        assert_eq!(a.window, 4);
        assert_eq!(a.encrypt, OnOff::On);
        assert_eq!(a.duration, Duration::from_secs(3));
        assert_eq!(a.threads, 2);
        assert_eq!((a.api.as_deref(), a.api()), (None, DEFAULT_API));
        a.validate().unwrap();
        let a = Args::try_parse_from(["jindou-bench", "--api", "127.0.0.1:9"]).unwrap();
        assert_eq!(a.api(), "127.0.0.1:9");

        let bad = Args::try_parse_from(["jindou-bench", "--size", "8"]).unwrap();
        assert!(bad.validate().is_err());
        let bad =
            Args::try_parse_from(["jindou-bench", "--scenario", "group", "--online", "1"]).unwrap();
        assert!(bad.validate().is_err());
        assert!(Args::try_parse_from(["jindou-bench", "--scenario", "nope"]).is_err());
        assert!(Args::try_parse_from(["jindou-bench", "--encrypt", "maybe"]).is_err());
    }
}

#[cfg(test)]
mod multi_target_tests {
    use super::*;

    #[test]
    fn several_targets_parse_in_order_and_must_be_jindou() {
        let t = parse_targets("tcp://127.0.0.1:5100, tcp://127.0.0.1:5101,ws://127.0.0.1:5202")
            .unwrap();
        let ports: Vec<u16> = t.iter().map(|t| t.addr.port()).collect();
        assert_eq!(ports, [5100, 5101, 5202]);
        assert_eq!(t[2].transport, Transport::Ws);
        assert!(parse_targets("tcp://127.0.0.1:5100,nats://127.0.0.1:4222").is_err());
        assert!(parse_targets("").is_err());
        let apis = resolve_loopbacks("127.0.0.1:5001,http://127.0.0.1:5002").unwrap();
        assert_eq!(
            apis.iter().map(|a| a.port()).collect::<Vec<_>>(),
            [5001, 5002]
        );
        assert!(resolve_loopbacks("127.0.0.1:5001,10.0.0.1:5001").is_err());
    }
}
