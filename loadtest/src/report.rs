//! Results: the summary table, the JSON document and the histogram log.

use crate::stats::{fmt_rate, fmt_us, Integrity, Percentiles};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// Everything a run measured (serialised as the `--json` result).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Target URL.
    pub target: String,
    /// Free-form label.
    pub label: String,
    /// Measured seconds.
    pub duration_s: f64,
    /// Client threads.
    pub threads: usize,
    /// Client connections.
    pub connections: usize,
    /// Payload sealing on.
    pub encrypt: bool,
    /// Payload bytes.
    pub size: usize,
    /// Window per sender.
    pub window: usize,
    /// Requested total rate (0 = closed loop).
    pub rate: f64,
    /// Messages (or requests) sent over the whole run, warmup included.
    pub sent: u64,
    /// Sent inside the measurement window.
    pub sent_measured: u64,
    /// Successfully acknowledged.
    pub acked: u64,
    /// Deliveries over the whole run.
    pub delivered: u64,
    /// Deliveries inside the measurement window.
    pub delivered_measured: u64,
    /// Deliveries per second in the measurement window (requests/s for `rest`).
    pub delivered_per_sec: f64,
    /// Sends per second in the measurement window.
    pub sent_per_sec: f64,
    /// SENDACK (or HTTP response) latency, µs.
    pub sendack_us: Percentiles,
    /// End-to-end latency, µs.
    pub e2e_us: Percentiles,
    /// Errors (connection, protocol, failed acks).
    pub errors: u64,
    /// Acks with a failure reason.
    pub ack_failed: u64,
    /// Sends never acknowledged by the end of the drain.
    pub unacked: u64,
    /// Acknowledged messages an expected receiver never got.
    pub lost: u64,
    /// Duplicate deliveries.
    pub duplicated: u64,
    /// Out-of-order deliveries.
    pub reordered: u64,
    /// Seconds to establish all connections.
    pub connect_s: f64,
    /// `connect`: connections per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connects_per_sec: Option<f64>,
    /// `connect`: CONNECT→CONNACK latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_us: Option<Percentiles>,
    /// `connect`: server RSS growth per connection, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_conn_bytes: Option<f64>,
    /// `connect`: server RSS before / after, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_kib: Option<(u64, u64)>,
    /// `connect`: where the server RSS was read (`/varz` of the HTTP API or /proc/PID/status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_source: Option<String>,
    /// Client CPU seconds (user+system) used by the run, to tell when the client saturated.
    pub client_cpu_s: f64,
    /// Client CPU use as a fraction of its threads (1.0 = every client thread busy).
    pub client_cpu_util: f64,
    /// First few error messages.
    pub error_samples: Vec<String>,
    /// SENDACK histogram (ns).
    #[serde(skip)]
    pub sendack_hist: Option<Histogram<u64>>,
    /// E2E histogram (ns).
    #[serde(skip)]
    pub e2e_hist: Option<Histogram<u64>>,
}

impl RunResult {
    /// Whether the run saw an integrity violation or errors (non-zero exit).
    pub fn failed(&self) -> bool {
        self.integrity().violated() || self.errors + self.unacked > 0
    }

    /// The loss / duplication / reordering totals.
    pub fn integrity(&self) -> Integrity {
        Integrity {
            lost: self.lost,
            duplicated: self.duplicated,
            reordered: self.reordered,
        }
    }

    /// The human summary table.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n== {} → {} {}({} threads, {} conns, {:.1}s measured) ==",
            self.scenario,
            self.target,
            if self.label.is_empty() {
                String::new()
            } else {
                format!("[{}] ", self.label)
            },
            self.threads,
            self.connections,
            self.duration_s
        );
        if let Some(cps) = self.connects_per_sec {
            let _ = writeln!(s, "connects/s          {cps:>12.0}");
            if let Some((a, b)) = self.rss_kib {
                let _ = writeln!(
                    s,
                    "server RSS          {a:>9} KiB → {b} KiB (from {})",
                    self.rss_source.as_deref().unwrap_or("?")
                );
            }
            if let Some(r) = self.rss_per_conn_bytes {
                let _ = writeln!(s, "RSS per connection  {r:>12.0} B");
            }
        } else {
            let _ = writeln!(
                s,
                "throughput          sent {}  delivered {}",
                fmt_rate(self.sent_per_sec),
                fmt_rate(self.delivered_per_sec)
            );
        }
        let _ = writeln!(
            s,
            "{:<18}{:>10}{:>10}{:>10}{:>10}{:>10}{:>12}",
            "latency", "p50", "p90", "p99", "p99.9", "max", "samples"
        );
        let mut row = |name: &str, p: &Percentiles| {
            if p.count > 0 {
                let _ = writeln!(
                    s,
                    "{name:<18}{:>10}{:>10}{:>10}{:>10}{:>10}{:>12}",
                    fmt_us(p.p50),
                    fmt_us(p.p90),
                    fmt_us(p.p99),
                    fmt_us(p.p999),
                    fmt_us(p.max),
                    p.count
                );
            }
        };
        let ack_name = match self.scenario.as_str() {
            "rest" => "http response",
            "connect" => "connect→connack",
            _ => "sendack",
        };
        if let Some(c) = &self.connect_us {
            row(ack_name, c);
        }
        row(ack_name, &self.sendack_us);
        row("end-to-end", &self.e2e_us);
        let _ = writeln!(
            s,
            "totals              sent {} acked {} delivered {} | errors {} unacked {} | lost {} duplicated {} reordered {}",
            self.sent,
            self.acked,
            self.delivered,
            self.errors,
            self.unacked,
            self.lost,
            self.duplicated,
            self.reordered
        );
        let _ = writeln!(
            s,
            "client CPU          {:.1}s = {:.2} cores ({:.0}% of {} threads){}",
            self.client_cpu_s,
            self.client_cpu_util * self.threads as f64,
            self.client_cpu_util * 100.0,
            self.threads,
            if self.client_cpu_util > 0.9 {
                "  ← client saturated"
            } else {
                ""
            }
        );
        for e in self.error_samples.iter().take(5) {
            let _ = writeln!(s, "error: {e}");
        }
        s
    }

    /// Writes the JSON result.
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        std::fs::write(path, text + "\n")
    }

    /// Writes both histograms as percentile distributions (HdrHistogram text format, µs).
    pub fn write_hdr(&self, path: &Path) -> io::Result<()> {
        let mut s = String::new();
        for (name, h) in [("sendack", &self.sendack_hist), ("e2e", &self.e2e_hist)] {
            if let Some(h) = h {
                s.push_str(&percentile_distribution(name, h));
            }
        }
        std::fs::write(path, s)
    }
}

/// The classic HdrHistogram percentile distribution listing, values in microseconds.
pub fn percentile_distribution(name: &str, h: &Histogram<u64>) -> String {
    let mut s = format!(
        "# {name}\n{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value(us)", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if h.is_empty() {
        return s + "# (no samples)\n\n";
    }
    for v in h.iter_quantiles(2) {
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            format!("{:14.2}", 1.0 / (1.0 - q))
        } else {
            format!("{:>14}", "inf")
        };
        let _ = writeln!(
            s,
            "{:12.3} {:14.12} {:10} {inv}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
            v.count_since_last_iteration()
        );
    }
    let _ = writeln!(
        s,
        "#[Mean = {:.3}, StdDeviation = {:.3}]\n#[Max = {:.3}, Total count = {}]\n",
        h.mean() / 1000.0,
        h.stdev() / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    );
    s
}

/// This process's CPU seconds (user + system) from /proc/self/stat.
pub fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // `rest` starts at field 3 (state), so field n is index n - 3.
    (ticks(11) + ticks(12)) / 100.0
}

/// A process's resident set size in KiB (VmRSS of /proc/PID/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vmrss(&status)
}

/// Extracts the server's resident memory in bytes (`mem`) from a `/varz` JSON body.
pub fn varz_mem_bytes(body: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mem = v.get("mem")?;
    mem.as_u64().or_else(|| {
        mem.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// Extracts VmRSS (KiB) from a /proc/PID/status text.
pub fn parse_vmrss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats;

    #[test]
    fn json_has_the_required_fields() {
        let r = RunResult {
            scenario: "pairs".into(),
            target: "tcp://127.0.0.1:1".into(),
            duration_s: 10.0,
            sent: 5,
            delivered: 5,
            delivered_per_sec: 0.5,
            ..RunResult::default()
        };
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for k in [
            "scenario",
            "target",
            "duration_s",
            "sent",
            "delivered",
            "delivered_per_sec",
            "sendack_us",
            "e2e_us",
            "errors",
            "lost",
            "duplicated",
            "reordered",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        for k in ["p50", "p90", "p99", "p999", "max"] {
            assert!(v["sendack_us"].get(k).is_some());
            assert!(v["e2e_us"].get(k).is_some());
        }
        assert!(!r.failed());
        let bad = RunResult {
            reordered: 1,
            ..RunResult::default()
        };
        assert!(bad.failed());
        assert!(r.summary().contains("pairs"));
    }

    #[test]
    fn varz_mem() {
        let body = br#"{"server_id":"1","connections":2000,"mem":78192640,"cpu":1.5,"shards":[{"shard":0}]}"#;
        assert_eq!(varz_mem_bytes(body), Some(78_192_640));
        assert_eq!(varz_mem_bytes(br#"{"mem": 1.5e6}"#), Some(1_500_000));
        assert_eq!(varz_mem_bytes(br#"{"connections": 1}"#), None);
        assert_eq!(varz_mem_bytes(br#"{"mem": "big"}"#), None);
        assert_eq!(varz_mem_bytes(br#"{"mem": -1}"#), None);
        assert_eq!(varz_mem_bytes(b"<html>not json</html>"), None);
        assert_eq!(varz_mem_bytes(b"[1,2]"), None);
    }

    #[test]
    fn vmrss_and_hdr_text() {
        let status = "Name:\tjindou\nVmPeak:\t  1000 kB\nVmRSS:\t   76360 kB\nThreads: 3\n";
        assert_eq!(parse_vmrss(status), Some(76360));
        assert_eq!(parse_vmrss("Name: x\n"), None);
        let mut h = stats::new_hist();
        for v in 1..=100u64 {
            stats::record(&mut h, v * 1000);
        }
        let t = percentile_distribution("e2e", &h);
        assert!(t.starts_with("# e2e"));
        assert!(t.contains("Total count = 100"));
        assert!(process_cpu_seconds() >= 0.0);
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
