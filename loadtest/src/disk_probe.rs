//! `jindou-disk-probe`: the disk's own write + fdatasync latency, the yardstick for the
//! server's group commit (issue: "SENDACK p99 ≤ 4× the raw write+fdatasync p99 of the same
//! disk, measured in the same run").
//!
//! Appends `--size` bytes with `pwrite` and then `fdatasync`s, in a loop, into a file
//! preallocated like a log segment (`--prealloc falloc`, the server's default) or written with
//! zeros first (`zero`), at most one sample per `--interval`, for `--duration`; prints p50/p90/p99/p99.9/max and, with `--json`,
//! writes them as `{"fdatasync_us": {...}}`. Run it beside a loaded server to see the disk
//! under the same load. The file is removed at the end.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;

/// How the probe file is prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Prealloc {
    /// `fallocate` (unwritten extents, as the server's segments).
    Falloc,
    /// Written with zeros and fsynced first.
    Zero,
}

/// Measures write + fdatasync latency of the disk holding `--dir`.
#[derive(Parser, Debug)]
#[command(name = "jindou-disk-probe", version, about)]
struct Args {
    /// Directory on the disk to measure (the server's data directory's disk).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Bytes appended before each fdatasync.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// How long to measure (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Size of the probe file (wraps around when reached).
    #[arg(long, default_value_t = 64 << 20)]
    file_bytes: u64,
    /// How the file is prepared.
    #[arg(long, value_enum, default_value = "falloc")]
    prealloc: Prealloc,
    /// Least time from the start of one sample to the next (a group commit's cadence; 0 =
    /// back to back, which adds a second committer's worth of journal load to a server beside it).
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    interval: Duration,
    /// Write the percentiles (microseconds) here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn run(args: &Args) -> std::io::Result<Histogram<u64>> {
    let path = args
        .dir
        .join(format!("jindou-disk-probe-{}.tmp", std::process::id()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    let _cleanup = RemoveOnDrop(path);
    let size = args.size.max(1) as u64;
    let file_bytes = args.file_bytes.max(size);
    match args.prealloc {
        Prealloc::Falloc => {
            // SAFETY: plain syscall on an fd we own.
            let r = unsafe {
                libc::fallocate(
                    std::os::fd::AsRawFd::as_raw_fd(&file),
                    0,
                    0,
                    file_bytes as libc::off_t,
                )
            };
            if r != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Prealloc::Zero => {
            let zeros = vec![0u8; 1 << 20];
            let mut at = 0;
            while at < file_bytes {
                let n = (file_bytes - at).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..n], at)?;
                at += n as u64;
            }
        }
    }
    file.sync_all()?;
    let data = vec![0x5au8; size as usize];
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut off = 0u64;
    let end = Instant::now() + args.duration;
    while Instant::now() < end {
        if off + size > file_bytes {
            off = 0;
        }
        let t = Instant::now();
        file.write_all_at(&data, off)?;
        file.sync_data()?;
        let took = t.elapsed();
        hist.saturating_record((took.as_nanos() as u64).max(1));
        off += size;
        if let Some(rest) = args.interval.checked_sub(took) {
            std::thread::sleep(rest);
        }
    }
    Ok(hist)
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn main() {
    let args = Args::parse();
    let hist = match run(&args) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("jindou-disk-probe: {}: {e}", args.dir.display());
            std::process::exit(2);
        }
    };
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let (p50, p90, p99, p999, max) = (
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        hist.max() as f64 / 1000.0,
    );
    println!(
        "write {} B + fdatasync ({:?}): n={} p50 {p50:.0}µs p90 {p90:.0}µs p99 {p99:.0}µs p99.9 {p999:.0}µs max {max:.0}µs",
        args.size,
        args.prealloc,
        hist.len()
    );
    if let Some(p) = &args.json {
        let v = serde_json::json!({
            "size": args.size,
            "prealloc": format!("{:?}", args.prealloc).to_lowercase(),
            "fdatasync_us": {"p50": p50, "p90": p90, "p99": p99, "p999": p999, "max": max, "count": hist.len()},
        });
        if let Err(e) = std::fs::write(p, v.to_string()) {
            eprintln!("jindou-disk-probe: cannot write {}: {e}", p.display());
            std::process::exit(2);
        }
    }
}
