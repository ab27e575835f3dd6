//! The embedded chat demo (`demo.on`, spec wukongim-2.2.5 §4): its listener and files, then
//! the page itself in headless Chromium — two people chatting 1:1 and in a group, and a
//! streamed reply (message events) arriving delta by delta, checked in the DOM and in a
//! screenshot.
//!
//! `JINDOU_UPDATE_SCREENSHOT=1` also writes the streamed-reply screenshot to docs/chatdemo.png
//! (the README's picture); otherwise it goes to the target directory only.

mod common;

use common::cdp::{Browser, Page};
use common::{b64, get, http_raw, post, skip_requested, Server};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Demo on, on a random port; `/route` and the redirect announce 127.0.0.1.
const DEMO: &str = "demo: {on: true, addr: 127.0.0.1:0}\nexternal: {ip: 127.0.0.1}\n";

fn static_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/api/demo/static")
}

fn header<'a>(r: &'a common::HttpResponse, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", r.headers))
}

/// The URLs of the page's import map.
fn import_map_urls(html: &str) -> Vec<String> {
    let start = html
        .find("<script type=\"importmap\">")
        .expect("an import map")
        + 25;
    let end = start + html[start..].find("</script>").unwrap();
    let map: Value = serde_json::from_str(&html[start..end]).expect("import map JSON");
    let mut urls: Vec<String> = map["imports"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for scope in map["scopes"].as_object().unwrap().values() {
        urls.extend(
            scope
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_str().unwrap().to_string()),
        );
    }
    urls.sort();
    urls.dedup();
    urls
}

#[test]
fn demo_listener_serves_the_page_the_sdk_and_nothing_else() {
    let server = Server::start(DEMO);
    let demo = server.addr("demo");
    let http = server.addr("http");

    // `/` sends the browser to the page, telling it where the API is.
    let r = get(demo, "/");
    assert_eq!(r.status, 302);
    assert_eq!(
        header(&r, "Location"),
        format!("/chatdemo?apiurl=http://127.0.0.1:{}", http.port())
    );

    // The page, at /chatdemo and as the fallback of every path below it.
    let page = get(demo, "/chatdemo?apiurl=x");
    assert_eq!(page.status, 200);
    assert_eq!(header(&page, "Content-Type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "Access-Control-Allow-Origin"), "*");
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert_eq!(
        html,
        std::fs::read_to_string(static_dir().join("index.html")).unwrap()
    );
    assert!(html.contains("/chatdemo/app.js"), "{html}");
    for fallback in ["/chatdemo/", "/chatdemo/chat", "/chatdemo/a/b/c.js"] {
        let r = get(demo, fallback);
        assert_eq!((r.status, &r.body), (200, &page.body), "{fallback}");
    }
    let app = get(demo, "/chatdemo/app.js");
    assert_eq!(
        header(&app, "Content-Type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        app.body,
        std::fs::read(static_dir().join("app.js")).unwrap()
    );

    // Every module of the import map is there: the vendored SDK, byte for byte what npm
    // installed when node_modules is present, and its dependencies.
    let urls = import_map_urls(&html);
    assert!(urls.len() > 20, "{urls:?}");
    for url in &urls {
        let r = get(demo, url);
        assert_eq!(r.status, 200, "{url}");
        assert_eq!(
            header(&r, "Content-Type"),
            "text/javascript; charset=utf-8",
            "{url}"
        );
        assert_ne!(
            r.body, page.body,
            "{url} fell back to the page: not vendored"
        );
    }
    let sdk = get(demo, "/chatdemo/vendor/wukongimjssdk/lib/sdk.js");
    assert_eq!(
        sdk.body,
        std::fs::read(static_dir().join("vendor/wukongimjssdk/lib/sdk.js")).unwrap()
    );
    // The vendored copy is npm's, byte for byte (npm ci in tests/js; SKIP_JS=1 opts out).
    if common::js_sdk_required("the vendored SDK compared with npm's") {
        let npm = common::js_dir().join("node_modules/wukongimjssdk/lib/chat_manager.js");
        let served = get(demo, "/chatdemo/vendor/wukongimjssdk/lib/chat_manager.js");
        assert_eq!(
            served.body,
            std::fs::read(npm).unwrap(),
            "vendored SDK differs from npm's"
        );
    }
    let license = get(demo, "/chatdemo/vendor/LICENSES/wukongimjssdk.txt");
    assert!(String::from_utf8_lossy(&license.body).contains("ISC"));

    // Gzip for clients that ask.
    let gz = http_raw(
        demo,
        b"GET /chatdemo/vendor/crypto-js.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip, br\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(header(&gz, "Content-Encoding"), "gzip");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut plain)
        .unwrap();
    assert_eq!(plain, get(demo, "/chatdemo/vendor/crypto-js.js").body);
    assert!(gz.body.len() * 2 < plain.len());

    // Nothing else: no API, no monitoring, no near-misses.
    for other in [
        "/varz",
        "/user/token",
        "/chatdemox",
        "/index.html",
        "/vendor/buffer.js",
    ] {
        assert_eq!(get(demo, other).status, 404, "{other}");
    }
    assert_eq!(post(demo, "/chatdemo", "{}").status, 404);
    // CORS preflight, on the demo port and on the API port the page calls.
    for addr in [demo, http] {
        let r = http_raw(
            addr,
            b"OPTIONS /user/token HTTP/1.1\r\nHost: t\r\nOrigin: http://elsewhere\r\n\
              Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(r.status, 204, "{addr}");
        assert_eq!(header(&r, "Access-Control-Allow-Origin"), "*");
        assert!(header(&r, "Access-Control-Allow-Headers").contains("Content-Type"));
    }
}

#[test]
fn demo_is_off_unless_turned_on() {
    // Default: no demo listener at all.
    let server = Server::start("");
    assert!(!server.addrs.contains_key("demo"), "{:?}", server.addrs);
    drop(server);
    // Off with an address: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server::start(&format!("demo: {{on: false, addr: 127.0.0.1:{port}}}\n"));
    assert!(!server.addrs.contains_key("demo"));
    let refused = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(refused.is_err(), "something listens on the demo port");
    drop(server);
    // WK_DEMO_ON turns it on.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jindou.yaml");
    std::fs::write(
        &config,
        format!(
            "{}demo: {{addr: 127.0.0.1:0}}\n",
            common::base_config(dir.path())
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jindou"))
        .arg("--config")
        .arg(&config)
        .arg("config")
        .env("WK_DEMO_ON", "true")
        .output()
        .expect("jindou config");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("demo:\n  \"on\": true"), "{text}");
}

// ------------------------------------------------------------------ the page in Chromium

fn browser_required() -> bool {
    !skip_requested("SKIP_BROWSER", "the chat demo in headless Chromium")
}

/// The page as a person reaches it: through the redirect of `/`.
fn entry(demo: SocketAddr) -> String {
    format!("http://{demo}/")
}

/// Sets an input's value and clicks a button, as typing and clicking would.
fn fill_and_click(b: &mut Browser, p: &Page, input: &str, value: &str, button: &str) {
    b.eval(
        p,
        &format!(
            "(() => {{ const i = document.getElementById({}); i.value = {}; \
             i.dispatchEvent(new Event('input')); document.getElementById({}).click(); }})()",
            json!(input),
            json!(value),
            json!(button)
        ),
    );
}

fn log_in(b: &mut Browser, p: &Page, uid: &str) {
    b.wait_for(
        p,
        "the page to load",
        "document.body.dataset.ready === '1'",
        "document.body.innerHTML",
        30,
    );
    fill_and_click(b, p, "uid", uid, "login-btn");
    b.wait_for(
        p,
        "the SDK and the event channel to be online",
        "document.getElementById('status').dataset.status === 'online' && \
         document.getElementById('events-status').dataset.status === 'online' && \
         !document.getElementById('chat-view').hidden",
        "document.getElementById('login-error').textContent + ' / ' + \
         document.getElementById('status').textContent + ' / ' + \
         document.getElementById('events-status').textContent",
        30,
    );
    assert_eq!(
        b.eval(p, "document.getElementById('me').textContent"),
        json!(uid)
    );
}

/// A JS expression: the texts of the open conversation's bubbles, "from: text" each.
const BUBBLES: &str = "[...document.querySelectorAll('#messages .msg')].map(li => \
     li.querySelector('.from').textContent + ': ' + li.querySelector('.text').textContent).join('\\n')";

/// A JS expression: the conversation list, "key unread" each.
const CONVS: &str = "[...document.querySelectorAll('#conversations .conv')].map(li => \
     li.dataset.key + ' ' + li.querySelector('.unread').textContent).join('\\n')";

fn has_bubble(from: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#messages .msg')].some(li => \
         li.querySelector('.from').textContent === {} && li.querySelector('.text').textContent === {})",
        json!(from),
        json!(text)
    )
}

fn unread_is(key: &str, n: &str) -> String {
    format!(
        "(document.querySelector('#conversations .conv[data-key=\"{key}\"] .unread') || {{}}).textContent === {}",
        json!(n)
    )
}

fn open_conv(b: &mut Browser, p: &Page, key: &str) {
    // The list fills from the conversation sync after login, asynchronously.
    b.wait_for(
        p,
        &format!("conversation {key} in the list"),
        &format!("!!document.querySelector('#conversations .conv[data-key=\"{key}\"]')"),
        "document.getElementById('conversations').innerHTML",
        10,
    );
    b.eval(
        p,
        &format!("document.querySelector('#conversations .conv[data-key=\"{key}\"]').click()"),
    );
    b.wait_for(
        p,
        &format!("conversation {key} to open"),
        &format!(
            "document.getElementById('room-title').dataset.key === {}",
            json!(key)
        ),
        "document.getElementById('room-title').textContent",
        10,
    );
}

fn send_text(b: &mut Browser, p: &Page, text: &str) {
    fill_and_click(b, p, "text", text, "send-btn");
    b.wait_for(
        p,
        &format!("{text:?} to be acknowledged"),
        &format!(
            "[...document.querySelectorAll('#messages .msg.mine')].some(li => \
             li.querySelector('.text').textContent === {} && li.querySelector('.meta').textContent.includes('sent'))",
            json!(text)
        ),
        BUBBLES,
        10,
    );
}

/// The server's view of `uid`'s conversations: (channel_id, channel_type) → unread.
fn server_unread(http: SocketAddr, uid: &str) -> std::collections::HashMap<(String, u64), u64> {
    let r = post(
        http,
        "/conversation/sync",
        &json!({"uid": uid, "msg_count": 1}).to_string(),
    );
    assert_eq!(r.status, 200);
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["channel_id"].as_str().unwrap().to_string(),
                    c["channel_type"].as_u64().unwrap(),
                ),
                c["unread"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn two_pages_chat_one_to_one_and_in_a_group() {
    if !browser_required() {
        return;
    }
    let server = Server::start(DEMO);
    let (demo, http) = (server.addr("demo"), server.addr("http"));
    let mut b = Browser::launch();

    // Alice logs in and writes to bob twice before bob is there.
    let alice = b.open("alice", &entry(demo));
    log_in(&mut b, &alice, "alice");
    fill_and_click(&mut b, &alice, "peer", "bob", "open-btn");
    b.wait_for(
        &alice,
        "the chat with bob",
        "document.getElementById('room-title').dataset.key === '1:bob'",
        "document.getElementById('room-title').textContent",
        10,
    );
    send_text(&mut b, &alice, "hello bob, this is alice");
    send_text(&mut b, &alice, "are you there?");

    // Bob logs in: the conversation list (POST /conversation/sync) shows 2 unread from alice.
    let bob = b.open("bob", &entry(demo));
    log_in(&mut b, &bob, "bob");
    b.wait_for(
        &bob,
        "alice's conversation with 2 unread",
        &unread_is("1:alice", "2"),
        CONVS,
        10,
    );
    // Opening it shows the history (POST /channel/messagesync) and clears the count, on the
    // page and on the server.
    open_conv(&mut b, &bob, "1:alice");
    b.wait_for(
        &bob,
        "alice's first message",
        &has_bubble("alice", "hello bob, this is alice"),
        BUBBLES,
        10,
    );
    b.wait_for(
        &bob,
        "alice's second message",
        &has_bubble("alice", "are you there?"),
        BUBBLES,
        10,
    );
    b.wait_for(
        &bob,
        "the unread badge to clear",
        &unread_is("1:alice", ""),
        CONVS,
        10,
    );
    common::wait_secs("bob's unread count on the server to be 0", 10, || {
        server_unread(http, "bob").get(&("alice".into(), 1)) == Some(&0)
    });

    // Live both ways through the SDK.
    send_text(&mut b, &bob, "hi alice, bob here");
    b.wait_for(
        &alice,
        "bob's reply",
        &has_bubble("bob", "hi alice, bob here"),
        BUBBLES,
        10,
    );
    send_text(&mut b, &alice, "great, it works");
    b.wait_for(
        &bob,
        "alice's live message",
        &has_bubble("alice", "great, it works"),
        BUBBLES,
        10,
    );
    // The open conversation stays read.
    b.wait_for(
        &bob,
        "no unread while open",
        &unread_is("1:alice", ""),
        CONVS,
        5,
    );

    // A group: both join (POST /channel/subscriber_add), alice writes, bob — elsewhere —
    // sees the unread count, opens the group and reads it.
    fill_and_click(&mut b, &alice, "group", "demo-group", "join-btn");
    b.wait_for(
        &alice,
        "the group to open",
        "document.getElementById('room-title').dataset.key === '2:demo-group'",
        "document.getElementById('chat-error').textContent",
        10,
    );
    fill_and_click(&mut b, &bob, "group", "demo-group", "join-btn");
    b.wait_for(
        &bob,
        "the group to open",
        "document.getElementById('room-title').dataset.key === '2:demo-group'",
        "document.getElementById('chat-error').textContent",
        10,
    );
    open_conv(&mut b, &bob, "1:alice");
    send_text(&mut b, &alice, "hello group");
    b.wait_for(
        &bob,
        "the group's unread count",
        &unread_is("2:demo-group", "1"),
        CONVS,
        10,
    );
    open_conv(&mut b, &bob, "2:demo-group");
    b.wait_for(
        &bob,
        "alice's group message",
        &has_bubble("alice", "hello group"),
        BUBBLES,
        10,
    );
    send_text(&mut b, &bob, "hello from bob to the group");
    b.wait_for(
        &alice,
        "bob's group message",
        &has_bubble("bob", "hello from bob to the group"),
        BUBBLES,
        10,
    );

    // What the pages show is what the server stored.
    let hist = post(
        http,
        "/channel/messagesync",
        &json!({"login_uid": "alice", "channel_id": "demo-group", "channel_type": 2, "limit": 10})
            .to_string(),
    )
    .json();
    let texts: Vec<String> = hist["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            use base64::Engine;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(m["payload"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice::<Value>(&raw).unwrap()["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(texts, ["hello group", "hello from bob to the group"]);
    // The SDK and the page ran without an uncaught exception.
    assert!(
        !b.log.iter().any(|l| l.starts_with("exception")),
        "{}",
        b.log_tail()
    );
}

/// `POST /message/event` from the "backend".
fn event(http: SocketAddr, no: &str, id: &str, kind: &str, payload: Value) {
    let body = json!({
        "channel_id": "alice", "channel_type": 1, "from_uid": "bot", "client_msg_no": no,
        "event_id": id, "event_type": kind, "payload": payload,
    });
    let r = post(http, "/message/event", &body.to_string());
    assert_eq!(
        r.status,
        200,
        "{kind}: {}",
        String::from_utf8_lossy(&r.body)
    );
}

/// `POST /message/send` of a text from `from` to `to`.
fn api_send(http: SocketAddr, from: &str, to: &str, text: &str, extra: Value) {
    let mut body = json!({
        "header": {"red_dot": 1}, "from_uid": from, "channel_id": to, "channel_type": 1,
        "payload": b64(json!({"type": 1, "content": text}).to_string()),
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = post(http, "/message/send", &body.to_string());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// The ink (text pixels) of an element's screenshot: its count and horizontal extent.
fn ink_of(b: &mut Browser, p: &Page, selector: &str) -> (usize, u32, common::png::Image) {
    let rect = b.rect(p, selector);
    let png = b.screenshot(p, Some(rect));
    let img = common::png::decode(&png).expect("element screenshot is a valid PNG");
    let bg = img.dominant();
    let (count, span) = img.ink(bg, 200);
    (count, span.map_or(0, |(a, z)| z - a + 1), img)
}

#[test]
fn streamed_reply_arrives_delta_by_delta() {
    if !browser_required() {
        return;
    }
    let server = Server::start(DEMO);
    let (demo, http) = (server.addr("demo"), server.addr("http"));
    // Some life in the conversation list: carol wrote twice, a group exists.
    api_send(http, "carol", "alice", "lunch at noon?", json!({}));
    api_send(http, "carol", "alice", "I booked the table", json!({}));
    let mut b = Browser::launch();
    let alice = b.open("alice", &entry(demo));
    log_in(&mut b, &alice, "alice");
    b.wait_for(
        &alice,
        "carol's 2 unread",
        &unread_is("1:carol", "2"),
        CONVS,
        10,
    );
    fill_and_click(&mut b, &alice, "group", "jindou-users", "join-btn");
    b.wait_for(
        &alice,
        "the group",
        "document.getElementById('room-title').dataset.key === '2:jindou-users'",
        "document.getElementById('chat-error').textContent",
        10,
    );

    // Alice asks the bot; the bot's backend answers with a stream.
    fill_and_click(&mut b, &alice, "peer", "bot", "open-btn");
    b.wait_for(
        &alice,
        "the chat with bot",
        "document.getElementById('room-title').dataset.key === '1:bot'",
        "document.getElementById('room-title').textContent",
        10,
    );
    send_text(&mut b, &alice, "Tell me about Jindou, please.");
    let no = "stream-reply-1";
    api_send(
        http,
        "bot",
        "alice",
        "",
        json!({"is_stream": 1, "client_msg_no": no}),
    );
    let bubble = format!("#messages .msg[data-client-msg-no=\"{no}\"]");
    let text_of = format!("(document.querySelector('{bubble} .text') || {{}}).textContent");
    b.wait_for(
        &alice,
        "the anchor's bubble",
        &format!("!!document.querySelector('{bubble}.stream.streaming')"),
        BUBBLES,
        10,
    );

    let deltas = [
        "Jindou is a WuKongIM-compatible IM server ",
        "in Rust: ",
        "one thread per core, ",
        "io_uring, ",
        "streamed replies like this one.",
    ];
    let mut want = String::new();
    let mut first_ink = None;
    for (i, d) in deltas.iter().enumerate() {
        event(
            http,
            no,
            &format!("d{i}"),
            "stream.delta",
            json!({"kind": "text", "delta": d}),
        );
        want.push_str(d);
        // Each delta shows before the next is sent: the text grows delta by delta.
        b.wait_for(
            &alice,
            &format!("delta {i}"),
            &format!("{text_of} === {}", json!(want)),
            &text_of,
            10,
        );
        if i == 0 {
            first_ink = Some(ink_of(&mut b, &alice, &format!("{bubble} .text")));
        }
    }
    assert!(b
        .eval(
            &alice,
            &format!("document.querySelector('{bubble} .meta').textContent")
        )
        .as_str()
        .unwrap()
        .contains("streaming… (5 deltas)"));
    event(http, no, "c1", "stream.close", json!({"end_reason": 0}));
    event(http, no, "f1", "stream.finish", json!({}));
    b.wait_for(
        &alice,
        "the reply to be marked complete",
        &format!("document.querySelector('{bubble}').classList.contains('done') && document.querySelector('{bubble} .meta').textContent.includes('complete')"),
        &format!("document.querySelector('{bubble}').outerHTML"),
        10,
    );
    assert_eq!(b.eval(&alice, &text_of), json!(want));

    // The screenshot: a valid, non-blank PNG of the whole page, and in it the bubble's text
    // region holds far more ink, spread far wider, than after the first delta.
    let shot = b.screenshot(&alice, None);
    let img = common::png::decode(&shot).expect("page screenshot is a valid PNG");
    assert_eq!(
        (img.width, img.height),
        (common::cdp::WIDTH, common::cdp::HEIGHT)
    );
    assert!(
        img.distinct_colours(1000) > 50,
        "the screenshot looks blank"
    );
    let (ink1, width1, _) = first_ink.unwrap();
    let (ink, width, text_img) = ink_of(&mut b, &alice, &format!("{bubble} .text"));
    assert!(
        ink1 > 50 && width1 > 50,
        "no text after the first delta: {ink1} px over {width1}"
    );
    assert!(
        ink as f64 > ink1 as f64 * 1.6 && width >= width1,
        "the streamed text did not grow on screen: {ink1} px over {width1} → {ink} px over {width}"
    );
    assert!(
        text_img.height > 15,
        "the text region is {} px high",
        text_img.height
    );
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chatdemo.png");
    std::fs::write(&out, &shot).unwrap();
    if std::env::var("JINDOU_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/chatdemo.png");
        std::fs::write(&docs, &shot).unwrap();
        eprintln!("wrote {}", docs.display());
    }

    // After a reload the history (POST /channel/messagesync, event summaries) brings the
    // whole reply back, complete.
    b.navigate(&alice, &entry(demo));
    log_in(&mut b, &alice, "alice");
    open_conv(&mut b, &alice, "1:bot");
    b.wait_for(
        &alice,
        "the stored reply",
        &format!("{text_of} === {}", json!(want)),
        &text_of,
        10,
    );
    b.wait_for(
        &alice,
        "it to be complete",
        &format!("document.querySelector('{bubble}').classList.contains('done')"),
        &format!("document.querySelector('{bubble}').outerHTML"),
        10,
    );
    assert!(b
        .eval(&alice, BUBBLES)
        .as_str()
        .unwrap()
        .contains("me: Tell me about Jindou, please."));
}

#[test]
fn the_pages_stream_model_passes_its_unit_checks() {
    if !common::js_sdk_required("the chat demo's stream model under Node") {
        return;
    }
    let out = std::process::Command::new("node")
        .arg("demo_events.mjs")
        .current_dir(common::js_dir())
        .output()
        .expect("run node");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(" 0 failed"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
