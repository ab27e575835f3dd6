//! Process figures from `/proc`: resident memory and CPU use.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Resident set size in bytes (`VmRSS` of `/proc/self/status`), 0 if unknown.
pub fn rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Threads of the process (`Threads` of `/proc/self/status`).
pub fn threads() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time of the process (`/proc/self/stat` fields 14 and 15).
pub fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The command name (field 2) may hold spaces; fields after it follow the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field N is at index N - 3.
    let ticks = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let (Some(u), Some(s)) = (ticks(14), ticks(15)) else {
        return Duration::ZERO;
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64((u + s) as f64 / hz)
}

/// The last CPU sample: when, how much CPU time, and the percentage computed then.
static LAST: Mutex<Option<(Instant, Duration, f64)>> = Mutex::new(None);

/// CPU use in percent of one core since the previous call (at least 250 ms apart; calls closer
/// together repeat the last figure). The first call measures over the process's life.
pub fn cpu_percent(started: Instant) -> f64 {
    let now = Instant::now();
    let cpu = cpu_time();
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let pct = match *last {
        Some((at, _, pct)) if now.duration_since(at) < Duration::from_millis(250) => return pct,
        Some((at, before, _)) => percent(cpu.saturating_sub(before), now.duration_since(at)),
        None => percent(cpu, now.duration_since(started)),
    };
    *last = Some((now, cpu, pct));
    pct
}

fn percent(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    (cpu.as_secs_f64() / wall.as_secs_f64() * 100.0 * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc() {
        assert!(rss_bytes() > 0);
        assert!(threads() >= 1);
        // The kernel counts CPU time in clock ticks (10 ms at 100 Hz): burn CPU until the
        // process has been charged at least one, as it must be once it has run long enough
        // (a fixed short loop may finish within a tick on a fast or a loaded machine).
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut x = 0u64;
        while cpu_time() == Duration::ZERO && Instant::now() < deadline {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        assert!(x != 1);
        assert!(
            cpu_time() > Duration::ZERO,
            "no CPU time in /proc/self/stat"
        );
        let p = cpu_percent(Instant::now() - Duration::from_secs(1));
        assert!(p >= 0.0);
    }
}
