//! Message store behaviour: seqs, range reads, lookups, reopen, recovery, retention.

mod common;

use common::{cfg, msg, rt};
use jindou_storage::{MessageStore, MetaLog, PullMode, RangeQuery, StoreError, SyncPolicy};
use proptest::prelude::*;

fn seqs(r: &jindou_storage::RangeRead<'_>) -> Vec<u64> {
    r.messages
        .iter()
        .map(|m| m.record.message_seq.to_native())
        .collect()
}

fn q(start: u64, end: u64, limit: usize, mode: PullMode) -> RangeQuery {
    RangeQuery {
        start_seq: start,
        end_seq: end,
        limit,
        pull_mode: mode,
    }
}

#[test]
fn seqs_are_dense_per_channel_and_reads_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = MessageStore::open(&cfg(dir.path())).unwrap();
    for i in 0..300i64 {
        let ch = if i % 3 == 0 { "g1" } else { "g2" };
        let a = s
            .append(ch, 2, msg(i + 1, &format!("c{i}"), 100, &[i as u8; 50]))
            .unwrap();
        assert_eq!(a.message_id, i + 1);
        assert_eq!(a.lsn % 16, 0, "record starts are 16-byte aligned");
    }
    assert_eq!(s.max_seq("g1", 2), 100);
    assert_eq!(s.max_seq("g2", 2), 200);
    assert_eq!(s.max_seq("g1", 1), 0, "channel type is part of the key");
    assert!(s.log().segments().count() > 2, "the log rolled");
    for seq in 1..=100 {
        let m = s.get_by_seq("g1", 2, seq).unwrap().unwrap();
        assert_eq!(m.record.message_seq, seq);
        assert_eq!(m.record.channel_id.as_str(), "g1");
        assert_eq!(m.lsn % 16, 0);
    }
    assert!(s.get_by_seq("g1", 2, 101).unwrap().is_none());
    assert!(s.get_by_seq("nope", 2, 1).unwrap().is_none());
    let m = s.get_by_message_id(4).unwrap().unwrap();
    assert_eq!(
        (
            m.record.channel_id.as_str(),
            m.record.message_seq.to_native()
        ),
        ("g1", 2)
    );
    assert!(s.get_by_message_id(100_000).unwrap().is_none());
    let owned = m.to_owned_record();
    assert_eq!(owned.payload, vec![3u8; 50]);
}

#[test]
fn range_reads_follow_messagesync() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = MessageStore::open(&cfg(dir.path())).unwrap();
    for i in 0..50 {
        s.append("c", 2, msg(i, "", 1, b"x")).unwrap();
    }
    let r = |q| seqs(&s.read_range("c", 2, q).unwrap());
    assert_eq!(r(q(0, 0, 5, PullMode::Down)), vec![46, 47, 48, 49, 50]);
    assert_eq!(r(q(0, 0, 5, PullMode::Up)), vec![46, 47, 48, 49, 50]);
    assert_eq!(r(q(20, 0, 3, PullMode::Down)), vec![18, 19, 20]);
    assert_eq!(r(q(20, 17, 10, PullMode::Down)), vec![18, 19, 20]);
    assert_eq!(r(q(20, 30, 10, PullMode::Down)), Vec::<u64>::new());
    assert_eq!(r(q(20, 0, 3, PullMode::Up)), vec![20, 21, 22]);
    assert_eq!(r(q(20, 22, 10, PullMode::Up)), vec![20, 21]);
    assert_eq!(r(q(48, 0, 10, PullMode::Up)), vec![48, 49, 50]);
    assert_eq!(r(q(99, 0, 10, PullMode::Up)), Vec::<u64>::new());
    assert_eq!(r(q(99, 0, 2, PullMode::Down)), vec![49, 50]);
    assert_eq!(r(q(5, 0, 0, PullMode::Down)), Vec::<u64>::new());
    assert!(s
        .read_range("none", 2, q(0, 0, 5, PullMode::Down))
        .unwrap()
        .messages
        .is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn range_reads_match_a_model(n in 0u64..60, start in 0u64..70, end in 0u64..70, limit in 0usize..20, up in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = MessageStore::open(&cfg(dir.path())).unwrap();
        for i in 0..n {
            s.append("c", 1, msg(i as i64, "", 1, b"p")).unwrap();
        }
        let mode = if up { PullMode::Up } else { PullMode::Down };
        let got = seqs(&s.read_range("c", 1, q(start, end, limit, mode)).unwrap());
        let all: Vec<u64> = (1..=n).collect();
        let want: Vec<u64> = if limit == 0 {
            vec![]
        } else if start == 0 && end == 0 {
            all[all.len().saturating_sub(limit)..].to_vec()
        } else if up {
            all.iter().copied().filter(|&x| x >= start && (end == 0 || x < end)).take(limit).collect()
        } else if end > start {
            vec![]
        } else {
            let v: Vec<u64> = all.iter().copied().filter(|&x| x > end && x <= start).collect();
            v[v.len().saturating_sub(limit)..].to_vec()
        };
        prop_assert_eq!(got, want);
    }
}

#[test]
fn dedup_window_and_rebuild_at_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.dedup_window = 10;
    {
        let mut s = MessageStore::open(&c).unwrap();
        for i in 0..30 {
            s.append("c", 2, msg(i, &format!("k{i}"), 1, b"x")).unwrap();
        }
        assert_eq!(s.find_client_msg_no("c", 2, "k29").unwrap().message_seq, 30);
        assert!(
            s.find_client_msg_no("c", 2, "k5").is_none(),
            "evicted from the window"
        );
        assert!(s.find_client_msg_no("d", 2, "k29").is_none());
    }
    let s = MessageStore::open(&c).unwrap();
    let hit = s.find_client_msg_no("c", 2, "k25").unwrap();
    assert_eq!((hit.message_seq, hit.message_id), (26, 25));
    assert!(s.find_client_msg_no("c", 2, "k19").is_none());
}

#[test]
fn reopen_uses_checkpoints_and_scans_only_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let total = 500u64;
    {
        let mut s = MessageStore::open(&c).unwrap();
        for i in 0..total {
            let ch = format!("ch{}", i % 7);
            s.append(
                &ch,
                2,
                msg(i as i64, &format!("m{i}"), 1000 + i as i32, &[7; 100]),
            )
            .unwrap();
        }
        s.maintain(0).unwrap();
    }
    let s = MessageStore::open(&c).unwrap();
    let report = s.log().recovery_report();
    assert!(
        report.scanned_records < 40,
        "scanned {} records; checkpoints should cover almost everything",
        report.scanned_records
    );
    let mut n = 0;
    for k in 0..7 {
        let ch = format!("ch{k}");
        let max = s.max_seq(&ch, 2);
        for seq in 1..=max {
            let m = s.get_by_seq(&ch, 2, seq).unwrap().unwrap();
            assert_eq!(m.record.message_seq, seq);
            assert_eq!(m.record.channel_id.as_str(), ch);
            n += 1;
        }
    }
    assert_eq!(n, total);
    assert_eq!(
        s.get_by_message_id(123).unwrap().unwrap().record.message_id,
        123
    );
    // Without checkpoints the same state comes back from a full scan.
    for e in std::fs::read_dir(dir.path().join("msg")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "idx") {
            std::fs::remove_file(p).unwrap();
        }
    }
    drop(s);
    let s = MessageStore::open(&c).unwrap();
    assert_eq!(s.log().recovery_report().scanned_records, total);
    assert_eq!(s.max_seq("ch0", 2), 72);
}

fn last_segment(dir: &std::path::Path) -> std::path::PathBuf {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("msg"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v.pop().unwrap()
}

fn patch(path: &std::path::Path, at: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, at).unwrap();
}

#[test]
fn torn_tail_is_truncated_and_appending_continues() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.segment_size = 1 << 20;
    let last_lsn;
    {
        let mut s = MessageStore::open(&c).unwrap();
        let mut l = 0;
        for i in 0..10 {
            l = s.append("c", 2, msg(i, "", 1, &[1; 64])).unwrap().lsn;
        }
        last_lsn = l;
    }
    // Tear the last record: garble its payload.
    patch(&last_segment(dir.path()), last_lsn + 40, &[0xAB; 8]);
    let mut s = MessageStore::open(&c).unwrap();
    let torn = s
        .log()
        .recovery_report()
        .torn_tail
        .clone()
        .expect("torn tail reported");
    assert_eq!(torn.1, last_lsn);
    assert!(torn.2 > 0);
    assert_eq!(s.max_seq("c", 2), 9);
    let a = s.append("c", 2, msg(99, "", 1, b"after")).unwrap();
    assert_eq!((a.message_seq, a.lsn), (10, last_lsn));
    drop(s);
    let s = MessageStore::open(&c).unwrap();
    assert!(s.log().recovery_report().torn_tail.is_none());
    assert_eq!(
        s.get_by_seq("c", 2, 10)
            .unwrap()
            .unwrap()
            .record
            .payload
            .as_slice(),
        b"after"
    );
}

#[test]
fn mid_segment_corruption_fails_open_unless_repair() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.segment_size = 1 << 20;
    c.index_checkpoint_every = 1_000_000;
    let mut lsns = vec![];
    {
        let mut s = MessageStore::open(&c).unwrap();
        for i in 0..10 {
            lsns.push(s.append("c", 2, msg(i, "", 1, &[1; 64])).unwrap().lsn);
        }
    }
    patch(&last_segment(dir.path()), lsns[4] + 40, &[0xAB; 8]);
    match MessageStore::open(&c) {
        Err(StoreError::Corrupt { offset, .. }) => assert_eq!(offset, lsns[4]),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("corruption in the middle must fail open"),
    }
    c.repair = true;
    let s = MessageStore::open(&c).unwrap();
    assert!(s.log().recovery_report().repaired.is_some());
    assert_eq!(s.max_seq("c", 2), 4);
}

#[test]
fn corruption_in_a_sealed_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.index_checkpoint_every = 1_000_000;
    {
        let mut s = MessageStore::open(&c).unwrap();
        for i in 0..200 {
            s.append("c", 2, msg(i, "", 1, &[1; 64])).unwrap();
        }
    }
    // Remove checkpoints so the sealed segments are scanned, then corrupt the first one's tail.
    for e in std::fs::read_dir(dir.path().join("msg")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "idx") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let first = dir.path().join("msg").join("00000000000000000000.seg");
    patch(&first, 16 + 40, &[0xAB; 8]);
    assert!(matches!(
        MessageStore::open(&c),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn retention_deletes_old_segments_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.retention_age = Some(std::time::Duration::from_secs(100));
    let mut s = MessageStore::open(&c).unwrap();
    for i in 0..400 {
        let ts = if i < 200 { 1_000 } else { 5_000 };
        s.append("c", 2, msg(i, "", ts, &[2; 64])).unwrap();
    }
    let before = s.log().segments().count();
    let m = s.maintain(5_050).unwrap();
    assert!(!m.segments_deleted.is_empty());
    assert!(s.log().segments().count() < before);
    let first = s.first_seq("c", 2);
    assert!(first > 1 && first <= 201, "first seq {first}");
    match s.get_by_seq("c", 2, 1) {
        Err(StoreError::TruncatedByRetention { first_available }) => {
            assert_eq!(first_available, first)
        }
        other => panic!("expected truncated, got {other:?}"),
    }
    let r = s.read_range("c", 2, q(1, 0, 5, PullMode::Up)).unwrap();
    assert_eq!(r.truncated_before, Some(first));
    assert_eq!(seqs(&r)[0], first);
    assert!(matches!(
        s.log().read(0),
        Err(StoreError::TruncatedByRetention { .. })
    ));
    assert!(s.get_by_message_id(0).unwrap().is_none());
    assert!(s.get_by_seq("c", 2, 400).unwrap().is_some());
    drop(s);
    // Reopen keeps the state consistent.
    let s = MessageStore::open(&c).unwrap();
    assert_eq!(s.first_seq("c", 2), first);
    assert_eq!(s.max_seq("c", 2), 400);
    // Retention by size.
    let mut c2 = c.clone();
    c2.retention_age = None;
    c2.retention_bytes = Some(3 * c.segment_size);
    drop(s);
    let mut s = MessageStore::open(&c2).unwrap();
    s.maintain(0).unwrap();
    assert!(s.log().segments().count() <= 3);
    assert_eq!(s.max_seq("c", 2), 400);
}

#[test]
fn always_policy_group_commits_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.sync_policy = SyncPolicy::Always;
    c.segment_size = 1 << 20;
    rt(async move {
        let s = std::rc::Rc::new(std::cell::RefCell::new(MessageStore::open(&c).unwrap()));
        let mut tasks = vec![];
        for t in 0..32 {
            let s = s.clone();
            tasks.push(monoio::spawn(async move {
                for i in 0..20 {
                    let a = s
                        .borrow_mut()
                        .append(&format!("c{t}"), 2, msg(t * 1000 + i, "", 1, &[0; 200]))
                        .unwrap();
                    let fut = s.borrow().wait_durable(a.lsn);
                    fut.await.unwrap();
                    assert!(s.borrow().durable_lsn() > a.lsn);
                }
            }));
        }
        for t in tasks {
            t.await;
        }
        let st = s.borrow().commit_stats();
        assert_eq!(st.records, 640);
        assert!(
            st.batches < 200,
            "{} batches for 640 records: not grouped",
            st.batches
        );
    });
}

#[test]
fn interval_policy_acks_at_once_and_still_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.sync_policy = SyncPolicy::Interval;
    rt(async move {
        let mut s = MessageStore::open(&c).unwrap();
        let a = s.append("c", 2, msg(1, "", 1, b"x")).unwrap();
        s.wait_durable(a.lsn).await.unwrap();
        // The interval sync runs on its own; wait for it with a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while s.durable_lsn() <= a.lsn {
            assert!(
                std::time::Instant::now() < deadline,
                "the interval sync never ran"
            );
            monoio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
}

#[test]
fn meta_log_ops_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.sync_policy = SyncPolicy::Always;
    rt(async move {
        {
            let mut m = MetaLog::open(&c).unwrap();
            assert!(m.snapshot().is_none());
            for i in 0..1000u32 {
                let lsn = m.append(1 + (i % 3) as u8, &i.to_le_bytes()).unwrap();
                if i % 50 == 0 {
                    m.wait_durable(lsn).await.unwrap();
                }
            }
        }
        let mut m = MetaLog::open(&c).unwrap();
        let ops: Vec<u32> = m
            .replay()
            .map(|o| u32::from_le_bytes(o.unwrap().bytes.try_into().unwrap()))
            .collect();
        assert_eq!(ops, (0..1000).collect::<Vec<_>>());
        let segs_before = std::fs::read_dir(dir.path().join("meta")).unwrap().count();
        assert!(segs_before > 2);
        m.write_snapshot(b"state@300".to_vec()).await.unwrap();
        let lsn = m.append(9, b"after").unwrap();
        m.wait_durable(lsn).await.unwrap();
        drop(m);
        let m = MetaLog::open(&c).unwrap();
        assert_eq!(m.snapshot().unwrap().bytes, b"state@300");
        let ops: Vec<(u8, Vec<u8>)> = m
            .replay()
            .map(|o| o.unwrap())
            .map(|o| (o.kind, o.bytes.to_vec()))
            .collect();
        assert_eq!(ops, vec![(9, b"after".to_vec())]);
        let files = std::fs::read_dir(dir.path().join("meta")).unwrap().count();
        assert!(files <= 3, "covered segments deleted ({files} files left)");
    });
}

#[test]
fn oversized_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = MessageStore::open(&cfg(dir.path())).unwrap();
    let r = s.append("c", 2, msg(1, "", 1, &vec![0; 64 << 10]));
    assert!(matches!(r, Err(StoreError::TooLarge { .. })));
    assert_eq!(s.max_seq("c", 2), 0, "no seq consumed");
    assert_eq!(
        s.append("c", 2, msg(2, "", 1, b"ok")).unwrap().message_seq,
        1
    );
}

/// Appends `(message id, channel)` in order, then checks that every id is found (in its
/// channel, at its seq) and every id of `absent` is not, before and after a reopen.
fn ids_found_before_and_after_reopen(ids: &[(i64, &'static str)], absent: &[i64]) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = MessageStore::open(&cfg(dir.path())).unwrap();
    let stored: Vec<(i64, &str, u64)> = ids
        .iter()
        .map(|&(id, ch)| {
            (
                id,
                ch,
                s.append(ch, 2, msg(id, "", 1, b"p")).unwrap().message_seq,
            )
        })
        .collect();
    let check = |s: &MessageStore| {
        for &(id, ch, seq) in &stored {
            let m = s.get_by_message_id(id).unwrap().expect("stored id found");
            assert_eq!(m.record.channel_id.as_str(), ch);
            assert_eq!(m.record.message_seq.to_native(), seq);
        }
        for &a in absent {
            assert!(s.get_by_message_id(a).unwrap().is_none(), "{a}");
        }
    };
    check(&s);
    s.flush_blocking().unwrap();
    drop(s);
    check(&MessageStore::open(&cfg(dir.path())).unwrap());
}

#[test]
fn every_message_id_is_found_through_the_sparse_index_and_after_reopen() {
    // Ids rise by 3 across two channels, with a stretch of "clock set back" ids below them.
    let ids: Vec<(i64, &str)> = (0..400i64)
        .map(|i| {
            let id = if (200..210).contains(&i) {
                i - 150
            } else {
                1000 + 3 * i
            };
            (id, if i % 2 == 0 { "a" } else { "b" })
        })
        .collect();
    ids_found_before_and_after_reopen(&ids, &[0, 999, 1001, 1002, 1000 + 3 * 400, i64::MAX]);
}

/// A cluster replica stores every slot leader's messages: ids of several generators (node
/// bits) interleave, each generator's rising, the others' often larger at the same
/// millisecond. Every id is found and absent ids are not (that none is kept exactly is the
/// index's unit test `interleaved_generators_need_no_exact_entries`).
#[test]
fn interleaved_generators_are_found_through_the_sparse_index() {
    let id = |ms: i64, node: i64, counter: i64| (ms << 22) | (node << 12) | counter;
    // Three leaders, each issuing in its own millisecond order; node 3's ids at a millisecond
    // are above node 1's.
    let ids: Vec<(i64, &str)> = (0..600i64)
        .map(|i| {
            let node = [3, 1, 2][(i % 3) as usize];
            (
                id(1_000 + i / 3, node, i % 7),
                ["a", "b", "c", "d"][(i % 4) as usize],
            )
        })
        .collect();
    let absent = [
        id(1_000, 1, 9),
        id(1_100, 2, 8),
        id(1_200, 3, 0) + 1,
        id(5_000, 4, 0),
    ];
    ids_found_before_and_after_reopen(&ids, &absent);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// Appends from borrowed fields reuse one record: each message reads back exactly as
    /// appended, with nothing left over from a longer message before it.
    #[test]
    fn appended_fields_read_back_exactly(
        msgs in proptest::collection::vec(
            ("[a-z]{0,40}", "[a-z]{1,20}", "[a-z]{0,12}", "[a-z]{0,12}", proptest::collection::vec(any::<u8>(), 0..3000)),
            1..25,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = MessageStore::open(&cfg(dir.path())).unwrap();
        let mut want = Vec::new();
        for (i, (cmn, from, topic, stream_no, payload)) in msgs.iter().enumerate() {
            let fields = jindou_storage::MessageFields {
                message_id: 1000 + i as i64,
                client_msg_no: cmn,
                from_uid: from,
                setting: i as u8,
                header: 0b010,
                timestamp: 7 + i as i32,
                expire: 3,
                topic,
                stream_no,
                stream_id: 9,
                stream_flag: 1,
                payload,
            };
            let a = s.append_fields("chan", 2, &fields).unwrap();
            want.push((a.message_seq, fields.to_owned().into_record("chan", 2, a.message_seq)));
        }
        for (seq, rec) in want {
            let got = s.get_by_seq("chan", 2, seq).unwrap().unwrap().to_owned_record();
            prop_assert_eq!(got, rec);
        }
    }
}
