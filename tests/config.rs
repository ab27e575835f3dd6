//! Config loading: defaults, file, WK_* overrides, unknown keys, bad values.

use jindou::config::{Config, ConfigError};
use std::time::Duration;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(yaml: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_from_str(Some(yaml), "test.yaml", env(vars)).map(|(c, _)| c)
}

#[test]
fn defaults_are_wukongims_and_jindous() {
    let (c, report) = Config::load_from_str(None, "", Vec::new()).unwrap();
    assert!(report.unknown_keys.is_empty());
    assert_eq!(c.addr, "tcp://0.0.0.0:5100");
    assert_eq!(c.http_addr, "0.0.0.0:5001");
    assert_eq!(c.ws_addr, "ws://0.0.0.0:5200");
    // The chat demo: WuKongIM's address, but off unless asked for (WuKongIM: on).
    assert!(!c.demo.on);
    assert_eq!(c.demo.addr, "0.0.0.0:5172");
    assert_eq!(c.root_dir, "./data");
    assert_eq!(c.conn_idle_time.get(), Duration::from_secs(180));
    assert_eq!(c.jwt.expire.get(), Duration::from_secs(720 * 3600));
    assert_eq!(
        c.webhook.msg_notify_event_push_interval.get(),
        Duration::from_millis(500)
    );
    assert_eq!(c.storage.sync_policy, "always");
    assert_eq!(c.storage.sync_interval.get(), Duration::from_millis(1));
    assert_eq!(c.limits.max_frame_size.get(), 1 << 20);
    assert_eq!(c.manager_uid, "____manager");
    assert!(c.whitelist_off_of_person);
    assert!(!c.token_auth_on);
    assert!(c.encryption);
    let addrs = c.listen_addrs().unwrap();
    assert_eq!(addrs.tcp.port(), 5100);
    assert_eq!(addrs.ws.port(), 5200);
    assert_eq!(addrs.http.port(), 5001);
    assert_eq!(addrs.manager.map(|a| a.port()), Some(5300));
}

#[test]
fn file_values_override_defaults() {
    let c = load(
        "mode: release\nhttpAddr: 127.0.0.1:7001\nexternal: {ip: 203.0.113.10}\n\
         managerToken: s3cr3t\nwebhook: {httpAddr: \"http://biz:8080/wk\", focusEvents: [\"msg.offline\"]}\n\
         auth: {users: [\"admin:pwd:*\"]}\njwt: {secret: abc, expire: 30d}\n\
         storage: {syncPolicy: interval, segmentSize: 128MiB, syncInterval: 2ms}\n\
         cluster: {nodeId: 7}\nshards: 3\nconnIdleTime: 90s\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.mode, "release");
    assert_eq!(c.http_addr, "127.0.0.1:7001");
    assert_eq!(c.external.ip, "203.0.113.10");
    assert_eq!(c.manager_token, "s3cr3t");
    assert_eq!(c.webhook.http_addr, "http://biz:8080/wk");
    assert_eq!(c.webhook.focus_events, vec!["msg.offline"]);
    assert_eq!(c.auth.users, vec!["admin:pwd:*"]);
    assert_eq!(
        c.jwt.expire.get(),
        Duration::from_secs(30 * 86400),
        "30d works, unlike v2"
    );
    assert_eq!(c.storage.sync_policy, "interval");
    assert_eq!(c.storage.segment_size.get(), 128 << 20);
    assert_eq!(c.storage.sync_interval.get(), Duration::from_millis(2));
    assert_eq!(c.cluster.node_id, 7);
    assert_eq!(c.shards, 3);
    assert_eq!(c.effective_shards(), 3);
    assert_eq!(c.conn_idle_time.get(), Duration::from_secs(90));
    // Untouched keys keep their defaults.
    assert_eq!(c.addr, "tcp://0.0.0.0:5100");
    assert_eq!(c.jwt.issuer, "wukongim");
}

#[test]
fn env_overrides_file() {
    let c = load(
        "httpAddr: 127.0.0.1:7001\nwebhook: {httpAddr: http://a}\n",
        &[
            ("WK_HTTPADDR", "127.0.0.1:7002"),
            ("WK_WEBHOOK_HTTPADDR", "http://b"),
            ("WK_TOKENAUTHON", "true"),
            ("WK_AUTH_USERS", "admin:pwd:* guest:guest:[*:r]"),
            ("WK_STORAGE_SYNCBATCH", "64"),
            ("WK_STORAGE_SEGMENTSIZE", "2MiB"),
            ("WK_CONNIDLETIME", "45s"),
            ("WK_EXTERNAL_IP", "198.51.100.1"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(c.http_addr, "127.0.0.1:7002");
    assert_eq!(c.webhook.http_addr, "http://b");
    assert!(c.token_auth_on);
    assert_eq!(c.auth.users, vec!["admin:pwd:*", "guest:guest:[*:r]"]);
    assert_eq!(c.storage.sync_batch, 64);
    assert_eq!(c.storage.segment_size.get(), 2 << 20);
    assert_eq!(c.conn_idle_time.get(), Duration::from_secs(45));
    assert_eq!(c.external.ip, "198.51.100.1");
}

#[test]
fn unknown_keys_are_reported_not_fatal() {
    let (c, report) = Config::load_from_str(
        Some("nosuchsection: {on: true}\nhttpAddr: 127.0.0.1:7001\nwebhook: {nope: 1}\n"),
        "t",
        env(&[("WK_NOSUCHKEY", "1")]),
    )
    .unwrap();
    assert_eq!(c.http_addr, "127.0.0.1:7001");
    assert!(
        report.unknown_keys.contains(&"nosuchsection".to_string()),
        "{:?}",
        report.unknown_keys
    );
    assert!(report.unknown_keys.contains(&"webhook.nope".to_string()));
    assert!(report.unknown_keys.contains(&"WK_NOSUCHKEY".to_string()));
}

fn bad_key(yaml: &str, vars: &[(&str, &str)]) -> (String, String) {
    match load(yaml, vars) {
        Err(ConfigError::BadValue { key, value, .. }) => (key, value),
        other => panic!("expected a bad value, got {other:?}"),
    }
}

#[test]
fn bad_values_name_the_key_and_value() {
    let (k, v) = bad_key("httpAddr: not-an-address\n", &[]);
    assert_eq!(k, "httpAddr");
    assert!(v.contains("not-an-address"));
    let (k, v) = bad_key("storage: {segmentSize: -5}\n", &[]);
    assert_eq!(k, "storage.segmentSize");
    assert!(v.contains("-5"), "{v}");
    let (k, _) = bad_key("connIdleTime: 5 fortnights\n", &[]);
    assert_eq!(k, "connIdleTime");
    let (k, _) = bad_key("storage: {syncPolicy: sometimes}\n", &[]);
    assert_eq!(k, "storage.syncPolicy");
    let (k, _) = bad_key("cluster: {nodeId: 5000}\n", &[]);
    assert_eq!(k, "cluster.nodeId");
    let (k, _) = bad_key("shards: many\n", &[]);
    assert_eq!(k, "shards");
    let (k, v) = bad_key("", &[("WK_TOKENAUTHON", "perhaps")]);
    assert_eq!(k, "tokenAuthOn");
    assert!(v.contains("WK_TOKENAUTHON"));
    let (k, _) = bad_key("addr: ws://0.0.0.0:5100\n", &[]);
    assert_eq!(k, "addr", "the TCP listener needs tcp://");
    let (k, _) = bad_key("wssAddr: wss://0.0.0.0:5210\n", &[]);
    assert_eq!(k, "wssConfig.certFile");
}

#[test]
fn syntax_errors_are_reported() {
    assert!(matches!(
        load("httpAddr: [unclosed\n", &[]),
        Err(ConfigError::Syntax { .. })
    ));
    assert!(matches!(
        load("- a list\n", &[]),
        Err(ConfigError::Syntax { .. })
    ));
}

#[test]
fn effective_config_round_trips_through_yaml() {
    let c = load("jwt: {expire: 30d}\nstorage: {segmentSize: 2MiB}\n", &[]).unwrap();
    let yaml = c.to_yaml();
    let (again, report) = Config::load_from_str(Some(&yaml), "printed", Vec::new()).unwrap();
    assert!(report.unknown_keys.is_empty(), "{:?}", report.unknown_keys);
    assert_eq!(again, c);
}
