//! Crash test: a child process appends with `SyncPolicy::Always` and prints every acknowledged
//! message after `wait_durable`; the parent SIGKILLs it at a random moment, reopens the store
//! and checks that every acknowledged message is there, intact and densely sequenced.
//! `CRASH_KILLS` sets the number of kill rounds (default 30).

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use jindou_storage::{MessageStore, NewMessage, StoreConfig, SyncPolicy};

const CHILD_ENV: &str = "JINDOU_CRASH_CHILD_DIR";
const ROUND_ENV: &str = "JINDOU_CRASH_ROUND";
const CHANNELS: usize = 4;

fn config(dir: &std::path::Path, policy: SyncPolicy) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.segment_size = 256 << 10;
    c.sync_policy = policy;
    c.index_checkpoint_every = 100;
    c.dedup_window = 1000;
    c
}

/// Deterministic payload of a message id, so the parent can check it byte for byte.
fn payload(id: i64) -> Vec<u8> {
    let len = 20 + (id.unsigned_abs() % 300) as usize;
    let mut x = id as u64 ^ 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Child mode: runs only when the parent set `CHILD_ENV`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: i64 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let cfg = config(std::path::Path::new(&dir), SyncPolicy::Always);
    common::rt(async move {
        let store = Rc::new(RefCell::new(MessageStore::open(&cfg).unwrap()));
        let mut tasks = vec![];
        for t in 0..16i64 {
            let store = store.clone();
            tasks.push(monoio::spawn(async move {
                let ch = format!("ch{}", t as usize % CHANNELS);
                for i in 0i64.. {
                    let id = round * 100_000_000 + t * 1_000_000 + i;
                    let a = store
                        .borrow_mut()
                        .append(
                            &ch,
                            2,
                            NewMessage {
                                message_id: id,
                                client_msg_no: format!("cmn{id}"),
                                from_uid: "crash".into(),
                                timestamp: 1,
                                payload: payload(id),
                                ..Default::default()
                            },
                        )
                        .unwrap();
                    let durable = store.borrow().wait_durable(a.lsn);
                    durable.await.unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {ch} {} {id}", a.message_seq).unwrap();
                    out.flush().unwrap();
                }
            }));
        }
        for t in tasks {
            t.await;
        }
    });
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn acknowledged_messages_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(Instant::now().elapsed().as_nanos() as u64
        ^ 0x1234_5678_9abc_def1
        ^ std::process::id() as u64);
    // channel → seq → message id, over all rounds.
    let mut acked: BTreeMap<String, BTreeMap<u64, i64>> = BTreeMap::new();
    let mut total_acks = 0usize;
    for round in 1..=kills {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = vec![];
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut it = line.split_whitespace();
                if it.next() != Some("ACK") {
                    continue;
                }
                let ch = it.next().unwrap().to_string();
                let seq: u64 = it.next().unwrap().parse().unwrap();
                let id: i64 = it.next().unwrap().parse().unwrap();
                acks.push((ch, seq, id));
            }
            acks
        });
        std::thread::sleep(Duration::from_millis(20 + rng.next() % 200));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        total_acks += acks.len();
        for (ch, seq, id) in acks {
            let prev = acked.entry(ch.clone()).or_default().insert(seq, id);
            assert!(
                prev.is_none(),
                "round {round}: {ch} seq {seq} acknowledged twice"
            );
        }
        verify(dir.path(), &acked, round);
    }
    eprintln!("crash test: {kills} kills survived, {total_acks} acknowledged messages verified");
    assert!(total_acks > 0);
}

fn verify(dir: &std::path::Path, acked: &BTreeMap<String, BTreeMap<u64, i64>>, round: usize) {
    let s = MessageStore::open(&config(dir, SyncPolicy::None))
        .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
    // Every record in the log decodes and validates: nothing half-written is visible.
    for r in s.log().iter_from(0) {
        let r = r.unwrap_or_else(|e| panic!("round {round}: bad record: {e}"));
        jindou_storage::message::access(r.payload).unwrap();
    }
    for k in 0..CHANNELS {
        let ch = format!("ch{k}");
        let max = s.max_seq(&ch, 2);
        let want = acked.get(&ch);
        let max_acked = want
            .and_then(|m| m.keys().next_back().copied())
            .unwrap_or(0);
        assert!(
            max >= max_acked,
            "round {round}: {ch} max seq {max} < acknowledged {max_acked}"
        );
        // Dense seqs, in order.
        let mut prev_lsn = 0;
        for seq in 1..=max {
            let m = s
                .get_by_seq(&ch, 2, seq)
                .unwrap_or_else(|e| panic!("round {round}: {ch} seq {seq}: {e}"))
                .unwrap_or_else(|| panic!("round {round}: {ch} seq {seq} missing"));
            assert_eq!(m.record.message_seq, seq);
            assert!(m.lsn > prev_lsn || seq == 1);
            prev_lsn = m.lsn;
            let id = m.record.message_id.to_native();
            assert_eq!(
                m.record.payload.as_slice(),
                payload(id).as_slice(),
                "round {round}: payload of {ch}/{seq}"
            );
            if let Some(&acked_id) = want.and_then(|w| w.get(&seq)) {
                assert_eq!(
                    id, acked_id,
                    "round {round}: {ch} seq {seq} holds another message"
                );
            }
        }
    }
}
