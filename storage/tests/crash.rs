//! Crash tests of the store: a child process appends and prints every acknowledged message
//! after `wait_durable`; the parent SIGKILLs it at a random moment, reopens the store and
//! checks that every acknowledged message is there, intact and densely sequenced.
//!
//! - `acknowledged_messages_survive_sigkill`: kill -9 only (`CRASH_KILLS` rounds, default 30).
//!   The page cache survives a kill, so this proves recovery, not the syncs.
//! - `acknowledged_messages_survive_power_loss`: the store on jindou-powerfs; after each kill
//!   the power is cut (everything not synced is lost, every other cut also tears the last
//!   unsynced write) and the filesystem mounted afresh (`POWERLOSS_CYCLES`, default 5).
//! - `power_loss_test_catches_sync_policy_none`: the same test of the test with
//!   `SyncPolicy::None` must find acknowledged messages lost, or it proves nothing.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use jindou_powerfs::Tear;
use jindou_storage::{MessageStore, NewMessage, StoreConfig, SyncPolicy};

const CHILD_ENV: &str = "JINDOU_CRASH_CHILD_DIR";
const ROUND_ENV: &str = "JINDOU_CRASH_ROUND";
const POLICY_ENV: &str = "JINDOU_CRASH_POLICY";
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
    let policy = match std::env::var(POLICY_ENV).as_deref() {
        Ok("none") => SyncPolicy::None,
        _ => SyncPolicy::Always,
    };
    let cfg = config(std::path::Path::new(&dir), policy);
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

/// The filesystem's process when a power-loss test starts this binary for it.
#[test]
fn powerfs_daemon() {
    jindou_powerfs::daemon_if_requested();
}

struct Rng(u64);
impl Rng {
    fn new() -> Rng {
        Rng(Instant::now().elapsed().as_nanos() as u64
            ^ 0x1234_5678_9abc_def1
            ^ std::process::id() as u64)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// channel → seq → message id, over all rounds.
type Acked = BTreeMap<String, BTreeMap<u64, i64>>;

/// Runs one writer child on `dir` and SIGKILLs it at a random moment; records its acks.
fn kill_round(dir: &Path, round: usize, policy: &str, rng: &mut Rng, acked: &mut Acked) -> usize {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env(ROUND_ENV, round.to_string())
        .env(POLICY_ENV, policy)
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
    // A random moment to crash (this is the fault injection, not a wait).
    std::thread::sleep(Duration::from_millis(20 + rng.next() % 200));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let acks = reader.join().unwrap();
    let n = acks.len();
    for (ch, seq, id) in acks {
        let prev = acked.entry(ch.clone()).or_default().insert(seq, id);
        assert!(
            prev.is_none(),
            "round {round}: {ch} seq {seq} acknowledged twice"
        );
    }
    n
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
    let mut rng = Rng::new();
    let mut acked = Acked::new();
    let mut total_acks = 0usize;
    for round in 1..=kills {
        total_acks += kill_round(dir.path(), round, "always", &mut rng, &mut acked);
        verify(dir.path(), &acked, round).unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!("crash test: {kills} kills survived, {total_acks} acknowledged messages verified");
    assert!(total_acks > 0);
}

/// Kill, power cut, remount, verify; `rounds` times. Returns the acknowledged messages and
/// the first verification failure.
fn power_loss_rounds(policy: &str, rounds: usize) -> (usize, Result<(), String>) {
    let t = tempfile::tempdir().unwrap();
    let mut disk = jindou_powerfs::PowerLossDisk::new(t.path()).expect("mount jindou-powerfs");
    let dir = disk.path().join("store");
    let mut rng = Rng::new();
    let mut acked = Acked::new();
    let mut total_acks = 0usize;
    for round in 1..=rounds {
        total_acks += kill_round(&dir, round, policy, &mut rng, &mut acked);
        let tear = if round % 2 == 0 {
            Tear::Random(rng.next())
        } else {
            Tear::None
        };
        let cut = disk.power_cut(tear).expect("power cut");
        eprintln!("round {round}: {cut}");
        if let Err(e) = verify(&dir, &acked, round) {
            return (total_acks, Err(e));
        }
    }
    (total_acks, Ok(()))
}

#[test]
fn acknowledged_messages_survive_power_loss() {
    if std::env::var(CHILD_ENV).is_ok()
        || jindou_powerfs::skip_requested("storage crash test on jindou-powerfs")
    {
        return;
    }
    let rounds = jindou_powerfs::cycles(5);
    let (acks, result) = power_loss_rounds("always", rounds);
    result.unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "power-loss crash test: {rounds} kills and power cuts survived, {acks} acknowledged \
         messages verified"
    );
    assert!(acks > 0);
}

/// The test of the test: without syncs, a power cut must lose acknowledged messages, and the
/// verification must say so.
#[test]
fn power_loss_test_catches_sync_policy_none() {
    if std::env::var(CHILD_ENV).is_ok()
        || jindou_powerfs::skip_requested("storage power-loss test with SyncPolicy::None")
    {
        return;
    }
    let (acks, result) = power_loss_rounds("none", 3);
    assert!(acks > 0, "the writer acknowledged nothing");
    let e = result.expect_err("SyncPolicy::None lost nothing at a power cut: the test is blind");
    assert!(e.contains("acknowledged"), "unexpected failure: {e}");
    eprintln!("SyncPolicy::None fails the power-loss test as it must: {e}");
}

/// Every acknowledged message is in the reopened store, intact and densely sequenced; the
/// first violation otherwise.
fn verify(dir: &Path, acked: &Acked, round: usize) -> Result<(), String> {
    let s = MessageStore::open(&config(dir, SyncPolicy::None))
        .map_err(|e| format!("round {round}: reopen failed: {e}"))?;
    // Every record in the log decodes and validates: nothing half-written is visible.
    for r in s.log().iter_from(0) {
        let r = r.map_err(|e| format!("round {round}: bad record: {e}"))?;
        jindou_storage::message::access(r.payload)
            .map_err(|e| format!("round {round}: bad message: {e}"))?;
    }
    for k in 0..CHANNELS {
        let ch = format!("ch{k}");
        let max = s.max_seq(&ch, 2);
        let want = acked.get(&ch);
        let max_acked = want
            .and_then(|m| m.keys().next_back().copied())
            .unwrap_or(0);
        if max < max_acked {
            return Err(format!(
                "round {round}: {ch} max seq {max} < acknowledged {max_acked}: acknowledged \
                 messages lost"
            ));
        }
        // Dense seqs, in order.
        let mut prev_lsn = 0;
        for seq in 1..=max {
            let m = s
                .get_by_seq(&ch, 2, seq)
                .map_err(|e| format!("round {round}: {ch} seq {seq}: {e}"))?
                .ok_or_else(|| format!("round {round}: {ch} seq {seq} missing"))?;
            if m.record.message_seq != seq || (m.lsn <= prev_lsn && seq != 1) {
                return Err(format!("round {round}: {ch} seq {seq} out of order"));
            }
            prev_lsn = m.lsn;
            let id = m.record.message_id.to_native();
            if m.record.payload.as_slice() != payload(id).as_slice() {
                return Err(format!("round {round}: payload of {ch}/{seq} differs"));
            }
            if let Some(&acked_id) = want.and_then(|w| w.get(&seq)) {
                if id != acked_id {
                    return Err(format!(
                        "round {round}: {ch} seq {seq} holds another message than the \
                         acknowledged one"
                    ));
                }
            }
        }
    }
    Ok(())
}
