//! The server under attack (issue 14): an attacker client over real sockets tries the manager
//! login hole, public secrets, privileged uids, slow and flooding pre-login clients, and ways to
//! grow server state; every item of `docs/security.md` has a test here.

mod common;

use common::wk::{self, ConnectOpts, WkClient, WAIT};
use common::*;
use jindou::proto::{Connect, DeviceFlag, Packet, ReasonCode, WkStr};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A JWT for `username` signed with WuKongIM's public default secret, as an attacker forges it.
fn forged_jwt(username: &str) -> String {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    encode(
        &Header::new(Algorithm::HS256),
        &jindou::auth::Claims {
            iss: "wukongim".into(),
            exp: 4_000_000_000,
            iat: 1_700_000_000,
            username: username.into(),
        },
        &EncodingKey::from_secret(jindou::auth::PUBLIC_DEFAULT_SECRET.as_bytes()),
    )
    .expect("sign")
}

fn get_with(addr: std::net::SocketAddr, path: &str, headers: &str) -> HttpResponse {
    http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n").as_bytes(),
    )
}

fn login_body(user: &str, pw: &str) -> String {
    json!({"username": user, "password": pw}).to_string()
}

// ---------------------------------------------------------------------------------------------
// 1. The API port honours managerToken; no implicit users
// ---------------------------------------------------------------------------------------------

#[test]
fn the_manager_login_hole_is_closed() {
    let server = Server::start("managerToken: mt\n");
    let (http, mgr) = (server.addr("http"), server.addr("manager"));
    // A history to steal.
    let sent = post_with(
        http,
        "/message/send",
        &json!({"from_uid": "a", "channel_id": "secret", "channel_type": 2, "payload": "aGk="})
            .to_string(),
        "token: mt\r\n",
    );
    assert_eq!(sent.status, 200);
    // guest:guest is not a user: login fails everywhere, with or without the token.
    assert_eq!(
        post(http, "/manager/login", &login_body("guest", "guest")).status,
        401
    );
    let r = post_with(
        http,
        "/manager/login",
        &login_body("guest", "guest"),
        "token: mt\r\n",
    );
    assert_eq!(r.status, 400, "no auth.users: login is off");
    assert_eq!(
        post(mgr, "/manager/login", &login_body("guest", "guest")).status,
        400
    );
    // A JWT never replaces the token on the API port, forged or not.
    for user in ["guest", "admin"] {
        let bearer = format!("Authorization: Bearer {}\r\n", forged_jwt(user));
        let r = post_with(
            http,
            "/channel/messagesync",
            &json!({"login_uid": "x", "channel_id": "secret", "channel_type": 2, "limit": 10})
                .to_string(),
            &bearer,
        );
        assert_eq!(r.status, 401, "messagesync with a forged JWT for {user}");
        assert!(r.body.is_empty());
        assert_eq!(get_with(mgr, "/varz", &bearer).status, 401, "manager port");
        assert_eq!(get_with(mgr, "/connz", &bearer).status, 401, "manager port");
    }
    // The token alone still reads it, and GET /health stays open.
    let r = post_with(
        http,
        "/channel/messagesync",
        &json!({"login_uid": "x", "channel_id": "secret", "channel_type": 2, "limit": 10})
            .to_string(),
        "token: mt\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(get(http, "/health").status, 200);
    assert_eq!(
        get(http, "/varz").status,
        401,
        "monitoring on the API port needs it too"
    );
    let preflight = http_raw(
        http,
        b"OPTIONS /message/send HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(preflight.status, 401, "every request but GET /health");
}

#[test]
fn a_users_jwt_works_on_the_manager_port_and_only_narrows_on_the_api_port() {
    let server =
        Server::start("managerToken: mt\nauth: {users: [\"ops:pw:[varz:r]\", \"root:pw2:*\"]}\n");
    let (http, mgr) = (server.addr("http"), server.addr("manager"));
    let ops = post(mgr, "/manager/login", &login_body("ops", "pw")).json();
    let bearer = format!(
        "Authorization: Bearer {}\r\n",
        ops["token"].as_str().expect("jwt")
    );
    assert_eq!(get_with(mgr, "/varz", &bearer).status, 200);
    assert_eq!(
        get_with(mgr, "/connz", &bearer).status,
        403,
        "outside its permissions"
    );
    assert_eq!(
        get_with(http, "/varz", &bearer).status,
        401,
        "API port: token required"
    );
    assert_eq!(
        get_with(http, "/varz", &format!("token: mt\r\n{bearer}")).status,
        200
    );
    assert_eq!(
        get_with(http, "/connz", &format!("token: mt\r\n{bearer}")).status,
        403,
        "the JWT narrows what the token allows"
    );
    assert_eq!(
        post(mgr, "/manager/login", &login_body("ops", "pw2")).status,
        400,
        "another user's password"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. No public secrets
// ---------------------------------------------------------------------------------------------

#[test]
fn the_jwt_secret_is_generated_private_and_kept() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start("auth: {users: [\"ops:pw:*\"]}\n");
    let path = server.dir.path().join("data").join("jwt.secret");
    let secret = std::fs::read_to_string(&path).expect("jwt.secret written at first start");
    assert_eq!(secret.trim().len(), 64, "32 random bytes, hex");
    assert_ne!(secret.trim(), jindou::auth::PUBLIC_DEFAULT_SECRET);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mgr = server.addr("manager");
    let jwt = post(mgr, "/manager/login", &login_body("ops", "pw")).json()["token"]
        .as_str()
        .expect("jwt")
        .to_string();
    let bearer = format!("Authorization: Bearer {jwt}\r\n");
    assert_eq!(get_with(mgr, "/varz", &bearer).status, 200);
    let forged = format!("Authorization: Bearer {}\r\n", forged_jwt("ops"));
    assert_eq!(
        get_with(mgr, "/varz", &forged).status,
        401,
        "signed with secret_wukongim"
    );
    // The same secret after a restart: the JWT stays valid.
    let dir = server.kill9();
    let again = Server::start_in(dir, "auth: {users: [\"ops:pw:*\"]}\n");
    let kept = std::fs::read_to_string(again.dir.path().join("data").join("jwt.secret")).unwrap();
    assert_eq!(kept, secret);
    assert_eq!(
        get_with(again.addr("manager"), "/varz", &bearer).status,
        200
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Loud warnings; privileged uids need tokens
// ---------------------------------------------------------------------------------------------

/// Every standard-error line of `server` up to its exit after SIGTERM.
fn stderr_until_exit(mut server: Server, lines: std::sync::mpsc::Receiver<String>) -> Vec<String> {
    assert!(server.terminate(WAIT).is_some(), "stops on SIGTERM");
    lines.iter().collect()
}

#[test]
fn release_mode_warns_about_open_ports_and_off_token_auth() {
    let (server, lines) =
        Server::start_capturing("mode: release\nhttpAddr: 0.0.0.0:0\nlogger: {level: 4}\n");
    let all = stderr_until_exit(server, lines).join("\n");
    assert!(
        all.contains("SECURITY WARNING") && all.contains("without a managerToken"),
        "{all}"
    );
    assert!(all.contains("tokenAuthOn is false"), "{all}");
    // Locked down: no warning at all.
    let (server, lines) = Server::start_capturing(
        "mode: release\nhttpAddr: 0.0.0.0:0\nmanagerToken: mt\ntokenAuthOn: true\nlogger: {level: 4}\n",
    );
    let all = stderr_until_exit(server, lines).join("\n");
    assert!(!all.contains("SECURITY WARNING"), "{all}");
}

#[test]
fn system_and_manager_uids_never_log_in_without_a_valid_token() {
    // tokenAuthOn is off: ordinary users need no token.
    let server = Server::start("managerToken: mt\n");
    let (tcp, http) = (server.addr("tcp"), server.addr("http"));
    let try_connect = |uid: &str, token: &str| {
        let (_, ack) = WkClient::connect(tcp, uid, token, DeviceFlag::APP.0, 4, true);
        ack.reason_code
    };
    assert_eq!(try_connect("alice", ""), ReasonCode::SUCCESS);
    assert_eq!(try_connect("____system", ""), ReasonCode::AUTH_FAIL);
    assert_eq!(try_connect("____system", "anything"), ReasonCode::AUTH_FAIL);
    assert_eq!(try_connect("____manager", ""), ReasonCode::AUTH_FAIL);
    assert_eq!(try_connect("____manager", "wrong"), ReasonCode::AUTH_FAIL);
    assert_eq!(try_connect("____manager", "mt"), ReasonCode::SUCCESS);
    // A system account added over REST: only with its registered token.
    let tok = "token: mt\r\n";
    let r = post_with(
        http,
        "/user/systemuids_add",
        &json!({"uids": ["bot"]}).to_string(),
        tok,
    );
    assert_eq!(r.status, 200);
    assert_eq!(try_connect("bot", ""), ReasonCode::AUTH_FAIL);
    let r = post_with(
        http,
        "/user/token",
        &json!({"uid": "bot", "token": "bot-secret", "device_flag": 0}).to_string(),
        tok,
    );
    assert_eq!(r.status, 200);
    assert_eq!(try_connect("bot", "bot-wrong"), ReasonCode::AUTH_FAIL);
    assert_eq!(try_connect("bot", "bot-secret"), ReasonCode::SUCCESS);
}

// ---------------------------------------------------------------------------------------------
// 4. Before login, a client is cheap and short-lived
// ---------------------------------------------------------------------------------------------

#[test]
fn a_connect_trickled_byte_by_byte_still_times_out() {
    let server = Server::start("limits: {connectTimeout: 1s}\n");
    let mut packet = bytes::BytesMut::new();
    jindou::proto::Encode::encode(
        &Connect {
            version: 4,
            device_flag: DeviceFlag::APP,
            device_id: WkStr::from("d".to_string()),
            uid: WkStr::from("slowpoke".to_string()),
            token: WkStr::EMPTY,
            client_timestamp: 0,
            client_key: WkStr::from("k".repeat(44)),
        },
        4,
        &mut packet,
    )
    .unwrap();
    let mut s = TcpStream::connect(server.addr("tcp")).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let started = Instant::now();
    let mut sent = 0;
    // One byte every 100 ms: the whole CONNECT would take > 10 s; the server must cut it once
    // its 1 s from accept are over, however recently the last byte came.
    let closed = loop {
        if s.write_all(&packet[sent..sent + 1]).is_err() {
            break true;
        }
        sent += 1;
        let mut b = [0u8; 64];
        match s.read(&mut b) {
            Ok(0) => break true,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            _ => {}
        }
        if sent == packet.len() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        closed,
        "the whole CONNECT ({} bytes over {:?}) went through",
        packet.len(),
        started.elapsed()
    );
    assert!(sent < packet.len());
    let v = varz_open(&server);
    assert!(v["idle_timeouts"].as_u64().unwrap() >= 1, "{v}");
}

/// `/varz` of a server without a manager token.
fn varz_open(server: &Server) -> Value {
    get(server.addr("http"), "/varz").json()
}

#[test]
fn a_websocket_ping_flood_is_cut_off() {
    let server = Server::start("");
    let mut c = WkClient::open(server.addr("ws"), true);
    let mut flood = Vec::new();
    for _ in 0..2000 {
        flood.extend_from_slice(&wk::ws_frame(0x9, b"ping-payload-ping-payload"));
    }
    // Written without reading a single pong.
    let _ = c.stream().try_clone().unwrap().write_all(&flood);
    assert!(c.is_closed(WAIT), "the flooding connection is closed");
    let v = varz_open(&server);
    assert!(v["control_floods_cut"].as_u64().unwrap() >= 1, "{v}");
    // A client pinging at a sane pace is untouched: it still gets its PONG afterwards.
    let (mut calm, ack) = WkClient::connect_opts(
        server.addr("ws"),
        ConnectOpts::new("calm", "", 0, 4, true).websocket(),
    );
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    for _ in 0..5 {
        calm.raw_write(&wk::ws_frame(0x9, b"hb"));
    }
    calm.ping();
}

// ---------------------------------------------------------------------------------------------
// 5. Nothing a client does grows state without bound
// ---------------------------------------------------------------------------------------------

#[test]
fn failed_connects_and_refused_sends_leave_no_state_behind() {
    let server = Server::start("tokenAuthOn: true\n");
    let (tcp, http) = (server.addr("tcp"), server.addr("http"));
    let before = varz_open(&server);
    for i in 0..200 {
        let (_, ack) = WkClient::connect(tcp, &format!("ghost{i}"), "bad", 0, 4, true);
        assert_eq!(ack.reason_code, ReasonCode::AUTH_FAIL);
    }
    post(
        http,
        "/user/token",
        &json!({"uid": "mallory", "token": "m", "device_flag": 0}).to_string(),
    );
    let (mut m, ack) = WkClient::connect(tcp, "mallory", "m", 0, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    for i in 0..100u32 {
        let a = m.send_ok_reason(&format!("nowhere-{i}"), 2, i + 1);
        assert_eq!(a, ReasonCode::SUBSCRIBER_NOT_EXIST, "group nowhere-{i}");
    }
    let after = varz_open(&server);
    assert_eq!(
        after["users_known"].as_u64().unwrap(),
        before["users_known"].as_u64().unwrap() + 1,
        "only mallory's token created a user: {after}"
    );
    assert_eq!(
        after["channel_records"], before["channel_records"],
        "refused sends created no channel"
    );
}

#[test]
fn channel_creation_by_sends_is_rate_bounded_per_connection() {
    let server = Server::start("managerToken: mt\nlimits: {channelCreateRate: 5}\n");
    let (tcp, http) = (server.addr("tcp"), server.addr("http"));
    let tok = "token: mt\r\n";
    post_with(
        http,
        "/user/systemuids_add",
        &json!({"uids": ["bot"]}).to_string(),
        tok,
    );
    post_with(
        http,
        "/user/token",
        &json!({"uid": "bot", "token": "b", "device_flag": 0}).to_string(),
        tok,
    );
    let (mut bot, ack) = WkClient::connect(tcp, "bot", "b", 0, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    let (mut ok, mut limited) = (0, 0);
    for i in 0..60u32 {
        match bot.send_ok_reason(&format!("new-{i}"), 2, i + 1) {
            ReasonCode::SUCCESS => ok += 1,
            ReasonCode::RATE_LIMIT => limited += 1,
            other => panic!("unexpected reason {other:?}"),
        }
    }
    // Two shards, each allowing a burst of 5 (plus what refills during the loop).
    assert!((5..40).contains(&ok), "{ok} created");
    assert!(limited > 0);
    let v = get_with(server.addr("manager"), "/varz", tok).json();
    assert_eq!(
        v["channel_create_limited"].as_u64().unwrap(),
        limited as u64
    );
    assert_eq!(v["channel_records"].as_u64().unwrap(), ok as u64);
}

#[test]
fn datasource_lookups_in_flight_are_bounded() {
    // A datasource that accepts and never answers (each look-up times out after 2 s).
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hang.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hang.incoming().flatten() {
            held.push(s);
        }
    });
    let server = Server::start(&format!(
        "datasource: {{addr: \"http://{addr}\"}}\nlimits: {{datasourceLookups: 3}}\n"
    ));
    let mut c = WkClient::login(server.addr("tcp"), "eve", 4);
    // Twenty groups owned by shard 0, so one shard's bound applies to all of them.
    let groups: Vec<String> = (0..)
        .map(|i| format!("ds-{i}"))
        .filter(|g| wk::shard_of(g, 2) == 0)
        .take(20)
        .collect();
    for (i, g) in groups.iter().enumerate() {
        c.send(g, 2, i as u32 + 1, &format!("cm{i}"), b"x", 0);
    }
    // The first three wait for the datasource; the other seventeen are answered at once.
    let mut order = Vec::new();
    while order.len() < groups.len() {
        match c.recv_packet(WAIT) {
            Some(Packet::Sendack(a)) => order.push(a.client_seq),
            Some(_) => {}
            None => panic!("SENDACKs missing after {order:?}"),
        }
    }
    let mut first: Vec<u32> = order[..17].to_vec();
    first.sort_unstable();
    assert_eq!(first, (4..=20).collect::<Vec<u32>>(), "order {order:?}");
}

#[test]
fn http_connections_are_bounded_node_wide() {
    let server = Server::start("limits: {maxHttpConnections: 3}\n");
    let http = server.addr("http");
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(http).unwrap()).collect();
    // The first three are counted once their accept ran: wait until a fourth is refused.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut s = TcpStream::connect(http).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut b = [0u8; 16];
        if matches!(s.read(&mut b), Ok(0) | Err(_)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a fourth connection kept being served"
        );
    }
    drop(idle);
    // Freed slots serve again.
    let deadline = Instant::now() + WAIT;
    let v = loop {
        let mut s = TcpStream::connect(http).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let _ = s.write_all(b"GET /varz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let mut body = Vec::new();
        let _ = s.read_to_end(&mut body);
        if body.starts_with(b"HTTP/1.1 200") {
            let text = String::from_utf8_lossy(&body).to_string();
            let json = &text[text.find("\r\n\r\n").unwrap() + 4..];
            break serde_json::from_str::<Value>(json).unwrap();
        }
        assert!(Instant::now() < deadline, "slots never freed");
    };
    assert!(v["http_conns_refused"].as_u64().unwrap() >= 1);
}

#[test]
fn the_manager_port_has_the_api_rate_limits_and_logins_are_throttled() {
    let server = Server::start("limits: {apiRatePerIp: 2}\nauth: {users: [\"ops:pw:*\"]}\n");
    let mgr = server.addr("manager");
    let statuses: Vec<u16> = (0..20).map(|_| get(mgr, "/metrics").status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    // Logins: at most 10 a minute from one address, whatever the API rate says.
    let server = Server::start("auth: {users: [\"ops:pw:*\"]}\n");
    let mgr = server.addr("manager");
    let statuses: Vec<u16> = (0..25)
        .map(|_| post(mgr, "/manager/login", &login_body("ops", "guess")).status)
        .collect();
    let tried = statuses.iter().filter(|&&s| s == 400).count();
    // Each of the two shards allows half of the burst; connections may land unevenly.
    assert!((5..=10).contains(&tried), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 25 - tried);
}

// ---------------------------------------------------------------------------------------------
// 8. Permission rules hold everywhere
// ---------------------------------------------------------------------------------------------

#[test]
fn send_ban_stops_group_sends_too() {
    let server = Server::start("");
    let (tcp, http) = (server.addr("tcp"), server.addr("http"));
    post(
        http,
        "/channel",
        &json!({"channel_id": "club", "channel_type": 2, "subscribers": ["u", "v"]}).to_string(),
    );
    let mut u = WkClient::login(tcp, "u", 4);
    let mut v = WkClient::login(tcp, "v", 4);
    assert_eq!(u.send_ok_reason("club", 2, 1), ReasonCode::SUCCESS);
    // u's own person channel is send-banned: u may send nowhere.
    let r = post(
        http,
        "/channel/info",
        &json!({"channel_id": "u", "channel_type": 1, "send_ban": 1}).to_string(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(u.send_ok_reason("club", 2, 2), ReasonCode::SEND_BAN);
    assert_eq!(u.send_ok_reason("v", 1, 3), ReasonCode::SEND_BAN);
    assert_eq!(v.send_ok_reason("club", 2, 1), ReasonCode::SUCCESS);
    // The group muted: members may not send.
    let r = post(
        http,
        "/channel/info",
        &json!({"channel_id": "club", "channel_type": 2, "send_ban": 1}).to_string(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(v.send_ok_reason("club", 2, 2), ReasonCode::SEND_BAN);
}

#[test]
fn extreme_client_timestamps_are_harmless() {
    let server = Server::start("encryption: false\n");
    for ts in [i64::MIN, i64::MAX, -1] {
        let mut c = WkClient::open(server.addr("tcp"), false);
        c.version = 4;
        c.write_packet(&Connect {
            version: 4,
            device_flag: DeviceFlag::APP,
            device_id: WkStr::from("d".to_string()),
            uid: WkStr::from("clock".to_string()),
            token: WkStr::EMPTY,
            client_timestamp: ts,
            client_key: WkStr::EMPTY,
        });
        match c.recv_packet(WAIT) {
            Some(Packet::Connack(a)) => assert_eq!(a.reason_code, ReasonCode::SUCCESS, "{a:?}"),
            other => panic!("timestamp {ts}: {other:?}"),
        }
    }
    assert_eq!(
        get(server.addr("http"), "/health").status,
        200,
        "still serving"
    );
}
