//! Faults an operator meets: a corrupted log, a full disk, floods of connections and requests.

mod common;
use common::*;
use serde_json::json;
use std::io::Read;
use std::process::Command;
use std::time::Duration;

/// The message segment holding data (the first record at offset 0 is not all zeros).
fn data_segment(root: &std::path::Path) -> std::path::PathBuf {
    for shard in std::fs::read_dir(root).unwrap() {
        let msg = shard.unwrap().path().join("msg");
        let Ok(entries) = std::fs::read_dir(&msg) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "seg") {
                let mut head = [0u8; 4];
                std::fs::File::open(&p)
                    .unwrap()
                    .read_exact(&mut head)
                    .unwrap();
                if head != [0; 4] {
                    return p;
                }
            }
        }
    }
    panic!("no segment with data under {}", root.display());
}

#[test]
fn mid_segment_corruption_refuses_start_until_repaired() {
    let mut server = Server::start("");
    let http = server.addr("http");
    for i in 0..10 {
        let r = post(http, "/message/send", &json!({"from_uid": "a", "channel_id": "b", "channel_type": 1, "payload": b64(format!("m{i}").as_bytes())}).to_string());
        assert_eq!(r.status, 200);
    }
    assert!(server.terminate(Duration::from_secs(5)).unwrap().success());
    let root = server.dir.path().join("data");
    let seg = data_segment(&root);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[24] ^= 0xFF; // inside the first record's payload; valid records follow
    std::fs::write(&seg, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jindou"))
        .arg("--config")
        .arg(&server.config_path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "must not start silently on a corrupt log"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("corrupt"), "{err}");
    let repaired = Command::new(env!("CARGO_BIN_EXE_jindou"))
        .arg("--config")
        .arg(&server.config_path)
        .arg("repair")
        .output()
        .unwrap();
    assert!(
        repaired.status.success(),
        "{}",
        String::from_utf8_lossy(&repaired.stderr)
    );
    let dir = server.kill9();
    let server = Server::start_in(dir, "");
    assert_eq!(get(server.addr("http"), "/health").status, 200);
}

/// Unmounts (lazily) when dropped.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Mounts a tmpfs of `size` (`24m`) on `dir`, for the test `what`; `None` only when the run
/// opted out with `SKIP_DISKFULL=1`. A failed mount (not root) fails the test.
fn mount_tmpfs(dir: &std::path::Path, size: &str, what: &str) -> Option<Unmount> {
    if skip_requested("SKIP_DISKFULL", what) {
        return None;
    }
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        mounted,
        "cannot mount a {size} tmpfs: the full-disk tests need root (or CAP_SYS_ADMIN); run the \
         tests as root, or set SKIP_DISKFULL=1 to skip them"
    );
    Some(Unmount(dir.to_path_buf()))
}

#[test]
fn a_full_disk_refuses_sends_and_recovers() {
    let mnt = tempfile::tempdir().unwrap();
    let Some(_guard) = mount_tmpfs(
        mnt.path(),
        "24m",
        "a_full_disk_refuses_sends_and_recovers (24 MiB tmpfs)",
    ) else {
        return;
    };
    let dir = tempfile::tempdir_in(mnt.path()).unwrap();
    let server = Server::start_in(dir, "storage: {segmentSize: 1MiB}\n");
    let http = server.addr("http");
    // Leave about 1.5 MiB free: the first segment fills, the next cannot be preallocated.
    let free = {
        let st = nix_statvfs(mnt.path());
        st.saturating_sub(1536 * 1024)
    };
    let filler = mnt.path().join("filler");
    std::fs::write(&filler, vec![1u8; free as usize]).unwrap();
    let payload = b64(vec![b'x'; 8 * 1024]);
    let mut acked = 0;
    let mut refused = None;
    for _ in 0..1000 {
        let r = post(
            http,
            "/message/send",
            &json!({"from_uid": "a", "channel_id": "g", "channel_type": 2, "payload": payload})
                .to_string(),
        );
        if r.status == 200 {
            acked += 1;
        } else {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("the disk filled up");
    assert_eq!(refused.status, 503, "a storage failure, not a bad request");
    assert_eq!(refused.header("Retry-After"), Some("1"));
    assert_eq!(refused.json()["status"], 503);
    assert_eq!(
        refused.json()["reason_code"],
        15,
        "refused with a clear reason"
    );
    assert!(acked > 10, "{acked} messages fitted");
    std::fs::remove_file(&filler).unwrap();
    let r = post(
        http,
        "/message/send",
        &json!({"from_uid": "a", "channel_id": "g", "channel_type": 2, "payload": payload})
            .to_string(),
    );
    assert_eq!(r.status, 200, "writing resumes when space returns");
    assert_eq!(
        r.json()["data"]["message_seq"],
        acked + 1,
        "no seq lost or doubled"
    );
    let sync = post(
        http,
        "/channel/messagesync",
        &json!({"login_uid": "a", "channel_id": "g", "channel_type": 2, "limit": 10000})
            .to_string(),
    )
    .json();
    assert_eq!(sync["messages"].as_array().unwrap().len() as u64, acked + 1);
}

#[test]
fn a_full_disk_answers_503_to_metadata_changes_and_recovers() {
    let mnt = tempfile::tempdir().unwrap();
    let Some(_guard) = mount_tmpfs(
        mnt.path(),
        "40m",
        "a_full_disk_answers_503_to_metadata_changes_and_recovers (40 MiB tmpfs)",
    ) else {
        return;
    };
    let dir = tempfile::tempdir_in(mnt.path()).unwrap();
    let server = Server::start_in(dir, "storage: {segmentSize: 1MiB}\n");
    let http = server.addr("http");
    // The first change preallocates the channel owner's 8 MiB meta segment.
    let first = json!({"channel_id": "g", "channel_type": 2, "uids": ["b0"]}).to_string();
    assert_eq!(post(http, "/channel/blacklist_add", &first).status, 200);
    // Leave about 2 MiB free: that segment takes a few large changes, the next one cannot
    // be preallocated.
    let free = nix_statvfs(mnt.path()).saturating_sub(2 << 20);
    let filler = mnt.path().join("filler");
    std::fs::write(&filler, vec![1u8; free as usize]).unwrap();
    // Blacklist changes of about 2.5 MiB each (one meta record each).
    let change = |n: usize| {
        let uids: Vec<String> = (0..90_000)
            .map(|i| format!("user-{n:04}-{i:016}"))
            .collect();
        json!({"channel_id": "g", "channel_type": 2, "uids": uids}).to_string()
    };
    let mut acked = 0;
    let mut refused = None;
    for n in 0..10 {
        let r = post(http, "/channel/blacklist_add", &change(n));
        if r.status == 200 {
            acked += 1;
        } else {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("the meta log ran out of disk");
    assert!(acked >= 1, "{acked} large changes fitted");
    assert_eq!(refused.status, 503, "a storage failure, not a bad request");
    assert_eq!(refused.header("Retry-After"), Some("1"));
    let body = refused.json();
    assert_eq!(body["status"], 503);
    let msg = body["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("disk full"), "{msg}");
    // Still full: refused again. Validation errors stay 400.
    assert_eq!(
        post(http, "/channel/blacklist_add", &change(acked)).status,
        503
    );
    let invalid = json!({"channel_id": "g", "uids": ["w1"]}).to_string();
    assert_eq!(post(http, "/channel/whitelist_add", &invalid).status, 400);
    std::fs::remove_file(&filler).unwrap();
    let r = post(http, "/channel/blacklist_add", &change(acked));
    assert_eq!(r.status, 200, "changes are taken again when space returns");
}

/// Free bytes of the filesystem at `path` (df, to avoid an extra dependency).
fn nix_statvfs(path: &std::path::Path) -> u64 {
    let out = Command::new("df")
        .arg("-B1")
        .arg("--output=avail")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df output")
}

#[test]
fn connection_and_request_floods_are_limited() {
    let server = Server::start("limits: {connRatePerIp: 4, apiRatePerIp: 10}\n");
    let http = server.addr("http");
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(get(http, "/route").status);
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited > 0, "{statuses:?}");
    assert!(statuses.contains(&200));
    let r = get(http, "/route");
    if r.status == 429 {
        assert_eq!(r.json()["status"], 429);
    }
    // Connections beyond the per-IP rate are closed at once; the rest are served. Each one
    // is settled positively: a CONNACK (accepted) or the close (refused), never a timeout.
    let tcp = server.addr("tcp");
    let mut closed = 0;
    let mut conns = Vec::new();
    for i in 0..40 {
        let mut c = wk::WkClient::open(tcp, false);
        c.uid = format!("flood-{i}");
        c.version = 4;
        c.write_packet(&jindou::proto::Connect {
            version: 4,
            device_flag: jindou::proto::DeviceFlag::APP,
            device_id: "d".into(),
            uid: jindou::proto::WkStr::from(c.uid.clone()),
            token: jindou::proto::WkStr::EMPTY,
            client_timestamp: wk::now_ms(),
            client_key: jindou::proto::WkStr::EMPTY,
        });
        match c.recv_packet(wk::WAIT) {
            Some(jindou::proto::Packet::Connack(_)) => conns.push(c),
            None if c.closed() => closed += 1,
            other => panic!("connection {i}: neither served nor closed: {other:?}"),
        }
    }
    assert!(closed > 0, "some connections were refused");
    assert!(!conns.is_empty(), "others were accepted");
}
