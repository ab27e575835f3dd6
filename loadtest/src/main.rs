//! `jindou-bench`: the load generator for Jindou and its peers.
//!
//! Thread-per-core (one monoio runtime per `--threads`), scenarios `pairs`, `group`, `connect`
//! and `rest`; every message carries a sequence number and a send timestamp so the receiver
//! measures end-to-end latency and checks loss, duplication and order per (sender, receiver).
//! Only loopback targets are accepted and every run ends by itself.

mod cli;
mod connect;
mod engine;
mod net;
mod payload;
mod peers;
mod report;
mod rest;
mod scenario;
mod stats;
mod ws;

use clap::Parser;
use cli::{Args, Kind, Scenario};
use std::sync::Arc;
use std::time::Instant;

fn fail(msg: &str) -> ! {
    eprintln!("jindou-bench: {msg}");
    std::process::exit(2);
}

fn main() {
    let args = Args::parse();
    if let Err(e) = args.validate() {
        fail(&e);
    }
    let targets = cli::parse_targets(&args.target).unwrap_or_else(|e| fail(&e));
    let target = targets[0].clone();
    let prefix = args
        .uid_prefix
        .clone()
        .unwrap_or_else(|| format!("jb{:08x}", engine::rand_u32()));
    let mut args = args;
    args.sources = cli::auto_sources(args.sources, args.connection_count());
    let args = Arc::new(args);
    let cpu0 = report::process_cpu_seconds();
    let wall0 = Instant::now();
    let mut result = match args.scenario {
        Scenario::Pairs => {
            let plan = scenario::pairs(&prefix, args.pairs);
            engine::run(args.clone(), targets, plan, Scenario::Pairs.name())
        }
        Scenario::Group => {
            if target.kind == Kind::Wk {
                let apis = cli::resolve_loopbacks(args.api()).unwrap_or_else(|e| fail(&e));
                create_groups(&args, apis[0], &prefix);
            }
            let plan = scenario::group(&prefix, args.groups, args.online_members(), args.senders);
            engine::run(args.clone(), targets, plan, Scenario::Group.name())
        }
        Scenario::Connect => {
            if target.kind != Kind::Wk {
                fail(&format!(
                    "connect runs against Jindou (tcp:// or ws://) only, not {}://",
                    target.kind.scheme()
                ));
            }
            connect::run(args.clone(), targets, prefix)
        }
        Scenario::Rest => {
            let apis = cli::resolve_loopbacks(args.api()).unwrap_or_else(|e| fail(&e));
            rest::run(args.clone(), apis, prefix)
        }
    };
    let cpu = report::process_cpu_seconds() - cpu0;
    if result.client_cpu_s == 0.0 {
        // Scenarios without a measured-window sample: the whole run.
        result.client_cpu_s = cpu;
        result.client_cpu_util =
            cpu / (wall0.elapsed().as_secs_f64() * args.threads as f64).max(1e-9);
    }
    print!("{}", result.summary());
    if let Some(p) = &args.json {
        if let Err(e) = result.write_json(p) {
            eprintln!("jindou-bench: cannot write {}: {e}", p.display());
        }
    }
    if let Some(p) = &args.hdr {
        if let Err(e) = result.write_hdr(p) {
            eprintln!("jindou-bench: cannot write {}: {e}", p.display());
        }
    }
    let code = if result.integrity().violated() {
        eprintln!(
            "jindou-bench: INTEGRITY VIOLATION: lost {} duplicated {} reordered {}",
            result.lost, result.duplicated, result.reordered
        );
        1
    } else if result.failed() {
        eprintln!(
            "jindou-bench: run had errors ({} errors, {} unacknowledged)",
            result.errors, result.unacked
        );
        1
    } else {
        0
    };
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // Client threads may still hold idle sockets: end the process without joining them.
    std::process::exit(code);
}

/// Creates the `group` scenario's groups through the REST API.
fn create_groups(args: &Args, api: std::net::SocketAddr, prefix: &str) {
    let (groups, members) = (args.groups, args.members);
    let prefix = prefix.to_string();
    let res: Result<(), String> = net::block_on(|| async move {
        let mut http = net::HttpConn::new(api);
        for g in 0..groups {
            let body = scenario::create_group_body(&prefix, g, members);
            let r = http
                .post("/channel", body.as_bytes())
                .await
                .map_err(|e| format!("POST /channel: {e}"))?;
            if r.status != 200 {
                return Err(format!(
                    "POST /channel: HTTP {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
        }
        Ok(())
    });
    if let Err(e) = res {
        fail(&e);
    }
}
