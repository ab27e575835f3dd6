//! Helpers shared by the integration tests.
#![allow(dead_code)]

use jindou_storage::{NewMessage, StoreConfig, SyncPolicy};

/// Whether the tests behind `var` are skipped: only when `var=1` is set explicitly, and then it
/// says so on standard error. A test that cannot run otherwise fails.
pub fn skip_requested(var: &str, what: &str) -> bool {
    if std::env::var(var).is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED ({var}=1): {what}");
        return true;
    }
    false
}

pub fn rt<F: std::future::Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime")
        .block_on(f)
}

pub fn cfg(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.segment_size = 16 << 10;
    c.meta_segment_size = 8 << 10;
    c.sync_policy = SyncPolicy::None;
    c.index_checkpoint_every = 16;
    c
}

pub fn msg(id: i64, cmn: &str, ts: i32, payload: &[u8]) -> NewMessage {
    NewMessage {
        message_id: id,
        client_msg_no: cmn.to_string(),
        from_uid: "u1".into(),
        timestamp: ts,
        payload: payload.to_vec(),
        ..Default::default()
    }
}
