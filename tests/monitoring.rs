//! Observability: `/varz`, `/connz`, `/metrics`, `/cluster/*` and the `/status` page, against
//! the real binary (issue 8).

mod common;
use common::wk::WkClient;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Plaintext clients so the test can speak wkproto without the key exchange.
const CONFIG: &str = "encryption: false\n";

/// A client that sent CONNECT and got a successful CONNACK.
fn connect(addr: SocketAddr, uid: &str, device: &str) -> WkClient {
    WkClient::login_plain(addr, uid, device)
}

fn json_get(addr: SocketAddr, path: &str) -> Value {
    let r = get(addr, path);
    assert_eq!(
        r.status,
        200,
        "{path}: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

fn has_keys(v: &Value, keys: &[&str], what: &str) {
    for k in keys {
        assert!(v.get(k).is_some(), "{what} lacks {k:?}: {v}");
    }
}

fn send_messages(http: SocketAddr, n: usize) {
    for _ in 0..n {
        let r = post(
            http,
            "/message/send",
            r#"{"from_uid":"a","channel_id":"b","channel_type":1,"payload":"aGk="}"#,
        );
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    }
}

/// The parsed exposition, as (metric name → summed value over all label sets).
fn scrape(http: SocketAddr) -> (prometheus_parse::Scrape, HashMap<String, f64>) {
    let r = get(http, "/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type").unwrap_or("").contains("text"),
        "content type {:?}",
        r.header("content-type")
    );
    let text = String::from_utf8(r.body).expect("utf-8 exposition");
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("exposition parses");
    let mut sums: HashMap<String, f64> = HashMap::new();
    for s in &scrape.samples {
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        *sums.entry(s.metric.clone()).or_default() += v;
    }
    (scrape, sums)
}

#[test]
fn every_endpoint_has_the_spec_shape() {
    let server = Server::start(CONFIG);
    let http = server.addr("http");
    send_messages(http, 1);
    let _c = connect(server.addr("tcp"), "shape-user", "dev-1");

    let v = json_get(http, "/varz");
    has_keys(
        &v,
        &[
            "server_id",
            "server_name",
            "version",
            "connections",
            "user_handler_count",
            "user_handler_conn_count",
            "uptime",
            "goroutine",
            "mem",
            "cpu",
            "in_msgs",
            "out_msgs",
            "in_bytes",
            "out_bytes",
            "slow_clients",
            "retry_queue",
            "tcp_addr",
            "ws_addr",
            "wss_addr",
            "manager_addr",
            "api_url",
            "manager_on",
            "commit",
            "commit_date",
            "tree_state",
            "manager_uid",
            "manager_token_on",
            "conversation_cache_count",
            "slots",
            "shards",
        ],
        "varz",
    );
    assert_eq!(v["server_id"], "1001");
    assert_eq!(v["server_name"], "WuKongIM");
    assert_eq!(v["slots"], 256);
    assert!(v["mem"].as_u64().unwrap() > 0, "RSS read from /proc");
    assert!(v["cpu"].as_f64().is_some());
    assert_eq!(v["shards"].as_array().unwrap().len(), 2);
    let slots: u64 = v["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slots"].as_u64().unwrap())
        .sum();
    assert_eq!(slots, 256);
    let with_conns = json_get(http, "/varz?show=conn&conn_limit=5");
    assert_eq!(with_conns["conns"].as_array().unwrap().len(), 1);
    has_keys(
        &json_get(http, "/varz/setting"),
        &["logger", "prometheus_on", "stress_on"],
        "setting",
    );

    let c = json_get(http, "/connz");
    has_keys(
        &c,
        &["connections", "now", "total", "offset", "limit"],
        "connz",
    );
    assert_eq!(c["total"], 1);
    let row = &c["connections"][0];
    has_keys(
        row,
        &[
            "id",
            "uid",
            "ip",
            "port",
            "last_activity",
            "uptime",
            "idle",
            "pending_bytes",
            "in_msgs",
            "out_msgs",
            "in_msg_bytes",
            "out_msg_bytes",
            "in_packets",
            "out_packets",
            "in_packet_bytes",
            "out_packet_bytes",
            "device",
            "device_id",
            "version",
            "proxy_type_format",
            "leader_id",
            "node_id",
        ],
        "ConnInfo",
    );
    assert_eq!(row["uid"], "shape-user");
    assert_eq!(row["device_id"], "dev-1");
    // No device token registered: the connection is a slave device.
    assert_eq!(row["device"], "App(从)");
    assert_eq!(row["node_id"], 1001);

    let node_keys = [
        "id",
        "is_leader",
        "role",
        "cluster_addr",
        "online",
        "allow_vote",
        "slot_count",
        "term",
        "status",
        "status_format",
    ];
    let n = json_get(http, "/cluster/node");
    has_keys(&n, &node_keys, "Node");
    has_keys(&n, &["uptime", "app_version"], "Node");
    assert_eq!(n["id"], 1001);
    assert_eq!(n["slot_count"], 256);
    for path in ["/cluster/nodes", "/cluster/simpleNodes"] {
        let ns = json_get(http, path);
        assert_eq!(ns["total"], 1, "{path}");
        has_keys(&ns["data"][0], &node_keys, path);
    }
    assert!(json_get(http, "/cluster/simpleNodes")["data"][0]
        .get("uptime")
        .is_none());

    let slot_keys = [
        "id",
        "leader_id",
        "term",
        "replicas",
        "channel_count",
        "log_index",
        "status",
        "status_format",
    ];
    let s = json_get(http, "/cluster/slots?ids=1,200");
    assert_eq!(s.as_array().unwrap().len(), 2);
    has_keys(&s[0], &slot_keys, "Slot");
    assert_eq!(s[0]["shard"], 0);
    assert_eq!(s[1]["shard"], 1);
    assert_eq!(get(http, "/cluster/slots?ids=1,x").status, 400);
    assert_eq!(get(http, "/cluster/slots?ids=256").status, 400);
    let all = json_get(http, "/cluster/allslot");
    assert_eq!(all["total"], 256);
    assert_eq!(all["data"].as_array().unwrap().len(), 256);
    let sc = json_get(http, "/cluster/slots/7/config");
    has_keys(
        &sc,
        &[
            "id",
            "leader_id",
            "term",
            "replicas",
            "log_max_index",
            "leader_log_max_index",
            "applied_index",
        ],
        "slot config",
    );
    assert_eq!(sc["replicas"][0], 1001);

    // A group channel with a member, then its cluster views.
    let r = post(
        http,
        "/channel",
        r#"{"channel_id":"room1","channel_type":2,"subscribers":["a","b"]}"#,
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let r = post(
        http,
        "/message/send",
        r#"{"from_uid":"a","channel_id":"room1","channel_type":2,"payload":"aGk="}"#,
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let chs = json_get(http, "/cluster/channels?channel_type=2");
    has_keys(&chs, &["total", "more", "data"], "channels");
    let room = chs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel_id"] == "room1")
        .unwrap_or_else(|| panic!("room1 not listed: {chs}"));
    has_keys(
        room,
        &[
            "id",
            "slot",
            "channel_id",
            "channel_type",
            "ban",
            "disband",
            "subscriber_count",
            "allowlist_count",
            "denylist_count",
            "last_msg_seq",
            "last_msg_time",
            "last_msg_time_format",
            "status_format",
            "created_at",
            "updated_at",
            "created_at_format",
            "updated_at_format",
        ],
        "ChannelInfo",
    );
    assert_eq!(room["subscriber_count"], 2);
    assert_eq!(room["last_msg_seq"], 1);
    assert!(room["last_msg_time"].as_i64().unwrap() > 1_000_000_000_000_000_000);
    // The person channel of the first send lives only in the message store; it is listed too.
    let person = json_get(http, "/cluster/channels?channel_type=1");
    assert_eq!(person["total"], 1, "{person}");
    assert_eq!(person["data"][0]["last_msg_seq"], 1);
    assert!(person["data"][0]["channel_id"]
        .as_str()
        .unwrap()
        .contains('@'));
    let none = json_get(http, "/cluster/channels?channel_id=nothing-here");
    assert_eq!(none["data"].as_array().unwrap().len(), 0);

    let cfg = json_get(http, "/cluster/channels/room1/2/config");
    has_keys(
        &cfg,
        &[
            "channel_id",
            "channel_type",
            "replicas",
            "learder_id",
            "term",
        ],
        "channel config",
    );
    assert_eq!(cfg["learder_id"], 1001);
    assert_eq!(
        get(http, "/cluster/channels/nothing-here/2/config").status,
        400
    );

    let st = post(
        http,
        "/cluster/channel/status",
        r#"{"channels":[{"channel_id":"room1","channel_type":2},{"channel_id":"nothing-here","channel_type":2}]}"#,
    );
    assert_eq!(st.status, 200);
    let st = st.json();
    has_keys(
        &st[0],
        &[
            "channel_id",
            "channel_type",
            "running",
            "last_msg_seq",
            "last_msg_time",
        ],
        "status",
    );
    assert_eq!(st[0]["running"], 1);
    assert_eq!(st[0]["last_msg_seq"], 1);
    assert_eq!(st[1]["running"], 0);
    assert_eq!(post(http, "/cluster/channel/status", "").status, 400);

    let page = get(http, "/status");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
}

#[test]
fn figures_move_when_messages_are_sent() {
    let server = Server::start(CONFIG);
    let http = server.addr("http");
    let _b = connect(server.addr("tcp"), "b", "b-phone");
    let before = json_get(http, "/varz");
    let (_, m0) = scrape(http);
    assert_eq!(before["connections"], 1);

    send_messages(http, 10);

    let stored0 = before["stored_msgs"].as_u64().unwrap();
    let out0 = before["out_msgs"].as_u64().unwrap();
    let mut after = Value::Null;
    // The counters settle after the group commit and fan-out.
    eventually("stored and delivered +10", Duration::from_secs(10), || {
        after = json_get(http, "/varz");
        after["stored_msgs"].as_u64().unwrap() == stored0 + 10
            && after["out_msgs"].as_u64().unwrap() == out0 + 10
    });
    assert!(after["out_bytes"].as_u64().unwrap() > before["out_bytes"].as_u64().unwrap());
    assert!(after["fsyncs"].as_u64().unwrap() >= 1);

    let (_, m1) = scrape(http);
    let delta = |k: &str| m1.get(k).copied().unwrap_or(0.0) - m0.get(k).copied().unwrap_or(0.0);
    assert_eq!(delta("jindou_messages_stored_total"), 10.0);
    assert_eq!(delta("jindou_messages_out_total"), 10.0);
    assert_eq!(delta("jindou_storage_records_durable_total"), 10.0);
    assert!(delta("jindou_storage_group_commits_total") >= 1.0);
    assert_eq!(m1["jindou_connections"], 1.0);

    let mine = json_get(http, "/connz?uid=b");
    assert_eq!(mine["total"], 1);
    assert_eq!(json_get(http, "/connz?uid=zzz")["total"], 0);
}

#[test]
fn metrics_parse_with_a_real_parser() {
    let server = Server::start(CONFIG);
    let http = server.addr("http");
    send_messages(http, 3);
    let (scrape, sums) = scrape(http);
    for name in [
        "jindou_connections",
        "jindou_messages_in_total",
        "jindou_messages_stored_total",
        "jindou_messages_out_total",
        "jindou_sendacks_total",
        "jindou_limit_hits_total",
        "jindou_storage_fsyncs_total",
        "jindou_storage_group_commits_total",
        "jindou_storage_blocking_rolls_total",
        "jindou_mesh_backlog",
        "jindou_mesh_in_flight",
        "jindou_webhook_queue",
        "jindou_shard_cpu_seconds_total",
        "jindou_process_resident_memory_bytes",
    ] {
        assert!(sums.contains_key(name), "{name} missing from /metrics");
    }
    assert!(sums["jindou_process_resident_memory_bytes"] > 0.0);
    assert!(sums["jindou_shard_cpu_seconds_total"] > 0.0);
    // Per-shard labels.
    let shards: std::collections::BTreeSet<String> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "jindou_messages_stored_total")
        .filter_map(|s| s.labels.get("shard").map(str::to_string))
        .collect();
    assert_eq!(shards.len(), 2, "one series per shard");
    // Histograms are well formed.
    let hist = scrape
        .samples
        .iter()
        .find(|s| s.metric == "jindou_storage_commit_batch_records")
        .expect("commit batch histogram");
    assert!(matches!(hist.value, prometheus_parse::Value::Histogram(_)));
    assert!(scrape.docs.contains_key("jindou_sendack_latency_seconds"));
}

/// Where Debian's `chromium` lives.
fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// The text inside the element with this id in a DOM dump.
fn element_text<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[start..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find('<')?;
    Some(rest[open..open + close].trim())
}

#[test]
fn status_page_renders_live_numbers_in_headless_chromium() {
    if skip_requested("SKIP_BROWSER", "the status page in headless Chromium") {
        return;
    }
    let browser = chromium().expect(
        "chromium is not installed: run `bash scripts/install-test-deps.sh` (Debian's \
         chromium), or set SKIP_BROWSER=1 to skip this test",
    );
    let server = Server::start(CONFIG);
    let http = server.addr("http");
    let _clients: Vec<WkClient> = (0..3)
        .map(|i| connect(server.addr("tcp"), &format!("viewer{i}"), "d"))
        .collect();
    send_messages(http, 4);
    let want = json_get(http, "/varz")["connections"].as_u64().unwrap();
    assert_eq!(want, 3);
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("http://{http}/status"))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        element_text(&dom, "connections"),
        Some(want.to_string().as_str()),
        "the page does not show the connection count; DOM:\n{dom}"
    );
    assert_eq!(element_text(&dom, "server_id"), Some("1001"));
    assert_eq!(element_text(&dom, "state"), Some("live"));
    let updates: u64 = element_text(&dom, "updates").unwrap().parse().unwrap();
    assert!(updates >= 1, "no poll completed");
    assert!(
        element_text(&dom, "stored_msgs")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 4
    );
    assert_eq!(
        dom.matches("class=\"shard\"").count(),
        2,
        "one row per shard"
    );
}

#[test]
fn manager_listener_serves_monitoring_and_login() {
    let server =
        Server::start("managerToken: mt\njwt: {secret: js}\nauth: {users: [\"ops:pw:*\"]}\n");
    let mgr = server.addr("manager");
    assert_eq!(
        get(mgr, "/metrics").status,
        200,
        "/metrics is open on the manager port"
    );
    let denied = get(mgr, "/varz");
    assert_eq!(denied.status, 401);
    assert!(denied.json()["error"].is_string());
    let login = post(
        mgr,
        "/manager/login",
        r#"{"username":"ops","password":"pw"}"#,
    )
    .json();
    let jwt = login["token"].as_str().expect("a token").to_string();
    let r = http_raw(
        mgr,
        format!("GET /varz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {jwt}\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["connections"].is_number());
    let r = http_raw(
        mgr,
        b"GET /connz HTTP/1.1\r\nHost: t\r\nConnection: close\r\ntoken: mt\r\n\r\n",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn pprof_is_refused_when_off_and_profiles_when_on() {
    let off = Server::start("");
    assert_eq!(
        get(off.addr("http"), "/debug/pprof/profile?seconds=1").status,
        403
    );
    let on = Server::start("pprofOn: true\n");
    let http = on.addr("http");
    // Keep the shards busy while the profile runs, so it has samples.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                get(http, "/varz");
            }
        })
    };
    let r = get(on.addr("http"), "/debug/pprof/flamegraph?seconds=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("image/svg+xml"));
    assert!(String::from_utf8_lossy(&r.body).contains("<svg"));
    let r = get(on.addr("http"), "/debug/pprof/profile?seconds=1");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();
    assert_eq!(r.status, 200);
    assert!(!r.body.is_empty(), "a pprof protobuf");
}

#[test]
fn logs_are_written_under_logger_dir() {
    let server = Server::start("logger: {level: 2, dir: mylogs, traceOn: true}\n");
    let http = server.addr("http");
    let r = post(
        http,
        "/message/send",
        r#"{"from_uid":"a","channel_id":"b","channel_type":1,"payload":"aGk="}"#,
    );
    assert_eq!(r.status, 200);
    let dir = server.dir.path().join("data").join("mylogs");
    // The file writer is asynchronous: wait (bounded) for the trace line to land.
    let text = || -> String {
        std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    eventually(
        &format!("a trace line in {}", dir.display()),
        Duration::from_secs(5),
        || {
            let t = text();
            t.contains("appended") && t.contains("jindou::trace")
        },
    );
}
