//! Meta log snapshots taken in steps: appends made while a snapshot is written stay in the
//! log, and a crash between any two steps reopens to a consistent snapshot + tail.

mod common;

use common::{cfg, rt};
use jindou_storage::{MetaLog, StoreError, SyncPolicy};

fn ops(m: &MetaLog) -> Vec<u32> {
    m.replay()
        .map(|o| u32::from_le_bytes(o.unwrap().bytes.try_into().unwrap()))
        .collect()
}

fn append(m: &mut MetaLog, range: std::ops::Range<u32>) {
    for i in range {
        m.append(1, &i.to_le_bytes()).unwrap();
    }
}

fn seg_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("meta"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .ends_with(".seg")
        })
        .count()
}

#[test]
fn appends_during_a_snapshot_stay_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.sync_policy = SyncPolicy::Always;
    rt(async move {
        let mut m = MetaLog::open(&c).unwrap();
        append(&mut m, 0..500);
        assert_eq!(m.ops_since_snapshot(), 500);
        let pending = m.begin_snapshot().unwrap();
        assert_eq!(
            pending.lsn(),
            m.end_lsn(),
            "covers everything appended so far"
        );
        assert_eq!(m.ops_since_snapshot(), 0);
        assert!(matches!(m.begin_snapshot(), Err(StoreError::SnapshotBusy)));
        // The log is not borrowed by the pending snapshot: appends go on meanwhile.
        append(&mut m, 500..520);
        let written = match pending.write(b"state@500".to_vec()).await {
            Ok(w) => w,
            Err((_, e)) => panic!("snapshot write failed: {e}"),
        };
        append(&mut m, 520..530);
        m.finish_snapshot(written).unwrap();
        assert_eq!(m.ops_since_snapshot(), 30);
        assert_eq!(ops(&m), (500..530).collect::<Vec<_>>());
        let lsn = m.append(1, &530u32.to_le_bytes()).unwrap();
        m.wait_durable(lsn).await.unwrap();
        drop(m);
        let m = MetaLog::open(&c).unwrap();
        assert_eq!(m.snapshot().unwrap().bytes, b"state@500");
        assert_eq!(ops(&m), (500..531).collect::<Vec<_>>());
        assert_eq!(m.ops_since_snapshot(), 31);
        assert!(
            seg_files(dir.path()) <= 2,
            "covered segments deleted ({} left)",
            seg_files(dir.path())
        );
    });
}

#[test]
fn an_aborted_snapshot_counts_its_ops_again() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    rt(async move {
        let mut m = MetaLog::open(&c).unwrap();
        append(&mut m, 0..10);
        let pending = m.begin_snapshot().unwrap();
        append(&mut m, 10..12);
        m.abort_snapshot(pending);
        assert_eq!(m.ops_since_snapshot(), 12);
        assert!(!m.snapshot_in_progress());
        // A later snapshot works.
        m.write_snapshot(b"s".to_vec()).await.unwrap();
        assert_eq!(m.ops_since_snapshot(), 0);
        assert_eq!(ops(&m), Vec::<u32>::new());
    });
}

/// The last step done before the process dies while a second snapshot is being taken.
#[derive(Debug, Clone, Copy)]
enum Crash {
    Begun,
    TempFileWritten,
    Installed,
}

#[test]
fn a_crash_between_steps_reopens_consistently() {
    for crash in [Crash::Begun, Crash::TempFileWritten, Crash::Installed] {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path());
        rt(async move {
            let mut m = MetaLog::open(&c).unwrap();
            append(&mut m, 0..300);
            m.write_snapshot(b"first@300".to_vec()).await.unwrap();
            append(&mut m, 300..700);
            let pending = m.begin_snapshot().unwrap();
            append(&mut m, 700..710);
            match crash {
                Crash::Begun => {}
                Crash::TempFileWritten => pending.write_temp(b"second@700".to_vec()).await.unwrap(),
                Crash::Installed => {
                    pending.write_temp(b"second@700".to_vec()).await.unwrap();
                    pending.install().await.unwrap();
                }
            }
            // The process dies here: nothing more of the snapshot runs.
            drop(pending);
            drop(m);
            let m = MetaLog::open(&c).unwrap();
            let (snap, tail): (&[u8], Vec<u32>) = match crash {
                Crash::Begun | Crash::TempFileWritten => (b"first@300", (300..710).collect()),
                Crash::Installed => (b"second@700", (700..710).collect()),
            };
            assert_eq!(m.snapshot().unwrap().bytes, snap, "{crash:?}");
            assert_eq!(ops(&m), tail, "{crash:?}");
            assert_eq!(m.ops_since_snapshot(), tail.len() as u64, "{crash:?}");
            assert!(
                !dir.path().join("meta/snapshot.tmp").exists(),
                "{crash:?}: temp file removed at open"
            );
        });
    }
}
