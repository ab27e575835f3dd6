//! CPU profiling on the API port when `pprofOn` (spec §1.1): `/debug/pprof/profile?seconds=N`
//! returns a pprof protobuf profile, `/debug/pprof/flamegraph?seconds=N` an SVG flame graph.
//! The profiler samples every thread (all shards) with SIGPROF while the handler's task sleeps,
//! so the shard keeps serving; only one profile runs at a time.

use crate::api::http::{Request, Response};
use crate::shard::Shard;
use std::time::Duration;

/// Longest profile one request may ask for.
const MAX_SECONDS: u64 = 60;
/// Samples per second.
const FREQUENCY: i32 = 99;

/// Serves a profiling route, or `None` if `req` is not one.
pub async fn route(shard: &Shard, req: &Request) -> Option<Response> {
    let flame = match req.path.as_str() {
        "/debug/pprof/profile" => false,
        "/debug/pprof/flamegraph" => true,
        _ => return None,
    };
    if !shard.ctx.config.pprof_on {
        return Some(Response::error(403, "profiling is off (pprofOn: false)"));
    }
    let seconds = req
        .query_param("seconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(10)
        .clamp(1, MAX_SECONDS);
    let guard = match pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
    {
        Ok(g) => g,
        Err(e) => {
            return Some(Response::error(
                503,
                &format!("profiler busy or unavailable: {e}"),
            ))
        }
    };
    monoio::time::sleep(Duration::from_secs(seconds)).await;
    let report = match guard.report().build() {
        Ok(r) => r,
        Err(e) => {
            return Some(Response::error(
                500,
                &format!("cannot build the profile: {e}"),
            ))
        }
    };
    Some(if flame {
        let mut svg = Vec::new();
        match report.flamegraph(&mut svg) {
            Ok(()) if svg.is_empty() => Response::text(
                200,
                "image/svg+xml",
                &br#"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><text x="10" y="25">no CPU samples: the server was idle</text></svg>"#[..],
            ),
            Ok(()) => Response::text(200, "image/svg+xml", svg),
            Err(e) => Response::error(500, &format!("cannot draw the flame graph: {e}")),
        }
    } else {
        use pprof::protos::Message;
        match report.pprof().map(|p| p.write_to_bytes()) {
            Ok(Ok(bytes)) => Response::text(200, "application/octet-stream", bytes),
            _ => Response::error(500, "cannot encode the profile"),
        }
    })
}
