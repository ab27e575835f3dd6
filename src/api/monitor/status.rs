//! `GET /status`: a small HTML page that polls `/varz` every second and shows connections,
//! message rates and per-shard load.

use crate::api::http::Response;

/// The page (static; all figures are fetched by the browser).
const PAGE: &str = include_str!("status.html");

/// Serves the page.
pub fn page() -> Response {
    let mut r = Response::text(200, "text/html; charset=utf-8", PAGE);
    r.headers.push(("Cache-Control", "no-store".into()));
    r
}
