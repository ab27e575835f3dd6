//! The embedded chat demo (`demo.on`, `demo.addr`; spec wukongim-2.2.5 §4): a listener of its
//! own that serves a small static web chat under `/chatdemo` — the page in `static/` and the
//! official JS SDK vendored in `static/vendor/` (scripts/vendor-jssdk.mjs), embedded in the
//! binary by build.rs. The page calls the REST API and the WebSocket port from the browser;
//! this listener has no API routes.
//!
//! `GET /` redirects to `/chatdemo?apiurl=<external.apiUrl>`; `/chatdemo/<file>` serves the
//! file, any other path under `/chatdemo` the page itself (`index.html`); everything else is
//! 404. Every response carries the permissive CORS headers of the HTTP floor; text files are
//! gzipped for clients that accept it.

use super::http::{Method, Request, Response};
use crate::config::Config;
use bytes::Bytes;
use std::sync::OnceLock;

/// `(path below /chatdemo/, contents)` of every file in `static/`, sorted by path.
static ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/demo_assets.rs"));

/// The page served for `/chatdemo` and every unknown path below it.
const INDEX: &str = "index.html";

/// Routes one request of the demo listener.
pub fn route(config: &Config, req: &Request) -> Response {
    match req.method {
        Method::Options => return Response::empty(204),
        Method::Get | Method::Head => {}
        _ => return super::router::no_route(req),
    }
    let path = req.path.as_str();
    if path.is_empty() || path == "/" {
        let to = format!("/chatdemo?apiurl={}", query_escape(&api_url(config)));
        return Response::empty(302).with_header("Location", to);
    }
    let rest = if path == "/chatdemo" {
        ""
    } else if let Some(rest) = path.strip_prefix("/chatdemo/") {
        rest
    } else {
        return super::router::no_route(req);
    };
    let index = find(rest).unwrap_or_else(|| find(INDEX).expect("index.html is embedded"));
    let gzip = req
        .header("accept-encoding")
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    serve(index, gzip)
}

/// The API URL the page is sent to: `external.apiUrl`, else `http://<external ip>:<API port>`
/// (what `/route` announces for the other ports).
pub fn api_url(config: &Config) -> String {
    if !config.external.api_url.is_empty() {
        return config.external.api_url.trim_end_matches('/').to_string();
    }
    let port = config.http_addr.rsplit(':').next().unwrap_or("5001");
    let ip = super::handlers::route::external_ip(config);
    if ip.contains(':') {
        format!("http://[{ip}]:{port}")
    } else {
        format!("http://{ip}:{port}")
    }
}

/// Percent-encodes a query value, keeping the characters a URL may carry there as they are.
fn query_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/[]@!$'()*,;".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The index of an embedded file.
fn find(rest: &str) -> Option<usize> {
    ASSETS.binary_search_by(|(p, _)| (*p).cmp(rest)).ok()
}

/// The `Content-Type` of a file name.
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "md" => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// The gzip form of every embedded text file (`None` for the others), made at first use.
fn gzipped() -> &'static [Option<Bytes>] {
    static GZ: OnceLock<Vec<Option<Bytes>>> = OnceLock::new();
    GZ.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(name, body)| {
                let text = content_type(name).starts_with("text/")
                    || content_type(name).starts_with("application/json");
                (text && body.len() > 1024).then(|| {
                    use std::io::Write;
                    let mut enc =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    enc.write_all(body).expect("gzip into memory");
                    Bytes::from(enc.finish().expect("gzip into memory"))
                })
            })
            .collect()
    })
}

/// Serves embedded file `i`.
fn serve(i: usize, gzip: bool) -> Response {
    let (name, body) = ASSETS[i];
    let packed = if gzip { gzipped()[i].clone() } else { None };
    let mut r = match packed {
        Some(gz) => {
            Response::text(200, content_type(name), gz).with_header("Content-Encoding", "gzip")
        }
        None => Response::text(200, content_type(name), Bytes::from_static(body)),
    };
    r.headers.push(("Vary", "Accept-Encoding".into()));
    r.headers.push(("Cache-Control", "no-cache".into()));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Response {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut buf = bytes::BytesMut::from(raw.as_bytes());
        let limits = super::super::http::RequestLimits {
            max_head: 8192,
            max_body: 8192,
        };
        let req = super::super::http::parse_request(&mut buf, limits)
            .unwrap()
            .unwrap();
        let mut config = Config::default();
        config.external.api_url = "http://api.example:5001/".into();
        route(&config, &req)
    }

    #[test]
    fn assets_are_sorted_and_hold_the_page_and_the_sdk() {
        assert!(ASSETS.windows(2).all(|w| w[0].0 < w[1].0));
        for name in [INDEX, "app.js", "vendor/wukongimjssdk/lib/sdk.js"] {
            assert!(find(name).is_some(), "{name} is not embedded");
        }
    }

    #[test]
    fn routes() {
        let r = get("/");
        assert_eq!(r.status, 302);
        assert!(r.headers.contains(&(
            "Location",
            "/chatdemo?apiurl=http://api.example:5001".into()
        )));
        let page = get("/chatdemo");
        assert_eq!(
            (page.status, page.content_type),
            (200, "text/html; charset=utf-8")
        );
        assert_eq!(get("/chatdemo/some/route").body, page.body);
        assert_eq!(
            get("/chatdemo/app.js").content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(get("/chatdemox").status, 404);
        assert_eq!(get("/varz").status, 404);
        assert_eq!(query_escape("http://h:1/a b&c"), "http://h:1/a%20b%26c");
    }
}
