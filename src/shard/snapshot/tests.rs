//! Snapshots restore exactly what replaying the ops would: for random op sequences, state via
//! replay == state via snapshot + tail replay, also through the real meta log with a crash
//! between any two steps of writing the snapshot.

use super::*;
use crate::shard::channels::ChannelKey;
use crate::shard::meta::{ListKind, ListMode, MetaRecord, KIND_JSON};
use crate::shard::msg_event::{KeyState, StoredEvents};
use jindou_storage::{MetaLog, StoreConfig, SyncPolicy};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The state one shard's meta log rebuilds, owned.
#[derive(Default)]
struct Model {
    channels: Channels,
    users: Users,
    globals: Globals,
    system_uids: BTreeSet<String>,
    events: StoredEvents,
}

type ChannelCanon = (ChannelInfo, Vec<String>, Vec<String>, Vec<String>);
type UserCanon = (
    BTreeMap<u8, DeviceToken>,
    BTreeMap<ChannelKey, Conversation>,
    BTreeMap<ChannelKey, (u64, u64)>,
    Option<String>,
);

/// Every field the meta log determines, in a comparable shape (users holding nothing are
/// absent, as they are after a restart).
#[derive(Debug, PartialEq)]
struct Canon {
    channels: BTreeMap<ChannelKey, ChannelCanon>,
    users: BTreeMap<String, UserCanon>,
    replica_system_uids: BTreeSet<String>,
    persons: BTreeMap<String, PersonAcl>,
    stored_system_uids: BTreeSet<String>,
    purged: BTreeMap<ChannelKey, u64>,
    events: StoredEvents,
}

impl Model {
    fn owned(&mut self) -> OwnedMeta<'_> {
        OwnedMeta {
            channels: &mut self.channels,
            users: &mut self.users,
            events: &mut self.events,
            globals: &mut self.globals,
            system_uids: &mut self.system_uids,
        }
    }

    fn apply(&mut self, rec: &MetaRecord) {
        rec.apply_owned(&mut self.owned());
    }

    fn encode(&self, owner: bool) -> Vec<u8> {
        let view = MetaView {
            channels: &self.channels,
            users: &self.users,
            events: &self.events,
            globals: owner.then_some((&self.globals, &self.system_uids)),
        };
        encode(&view, 0).0
    }

    fn decoded(bytes: &[u8]) -> Model {
        let mut m = Model::default();
        decode(bytes, &mut m.owned()).expect("decodes");
        m
    }

    fn canon(&self) -> Canon {
        let channels = self
            .channels
            .iter()
            .map(|(k, c)| {
                (
                    k.clone(),
                    (
                        c.info.clone(),
                        c.subscribers.iter().map(|s| s.to_string()).collect(),
                        c.blacklist.iter().cloned().collect(),
                        c.whitelist.iter().cloned().collect(),
                    ),
                )
            })
            .collect();
        let users = self
            .users
            .iter()
            .filter(|(_, u)| {
                !u.tokens.is_empty()
                    || !u.conversations.is_empty()
                    || u.cmd_channels().next().is_some()
                    || u.plugin_no().is_some()
            })
            .map(|(uid, u)| {
                (
                    uid.to_string(),
                    (
                        u.tokens.iter().map(|(k, v)| (*k, v.clone())).collect(),
                        u.conversations
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        u.cmd_channels().map(|(k, v)| (k.clone(), *v)).collect(),
                        u.plugin_no().map(str::to_string),
                    ),
                )
            })
            .collect();
        Canon {
            channels,
            users,
            replica_system_uids: self.globals.system_uids.clone(),
            persons: self
                .globals
                .persons
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            stored_system_uids: self.system_uids.clone(),
            purged: self
                .channels
                .purged()
                .map(|(k, v)| (k.clone(), v))
                .collect(),
            events: self.events.clone(),
        }
    }
}

fn replay_all(ops: &[MetaRecord]) -> Model {
    let mut m = Model::default();
    for op in ops {
        m.apply(op);
    }
    m
}

fn uid() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["u0", "u1", "u2", "u3"]).prop_map(String::from)
}

fn uids() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(uid(), 0..4)
}

fn channel() -> impl Strategy<Value = (String, u8)> {
    (
        prop::sample::select(vec!["g0", "g1", "u0", "u1"]).prop_map(String::from),
        prop::sample::select(vec![1u8, 2, 3, 6]),
    )
}

fn mode() -> impl Strategy<Value = ListMode> {
    prop::sample::select(vec![ListMode::Add, ListMode::Set, ListMode::Remove])
}

fn info() -> impl Strategy<Value = ChannelInfo> {
    (
        0u8..2,
        0u8..2,
        0u8..2,
        0u8..2,
        proptest::option::of("[a-z]{0,4}"),
    )
        .prop_map(|(ban, disband, send_ban, allow_stranger, name)| {
            let mut extra = serde_json::Map::new();
            if let Some(n) = name {
                extra.insert("name".into(), serde_json::Value::String(n));
            }
            ChannelInfo {
                ban,
                disband,
                send_ban,
                allow_stranger,
                extra,
            }
        })
}

fn key_state() -> impl Strategy<Value = KeyState> {
    (
        prop::sample::select(vec!["", "open", "closed", "error"]),
        1u64..30,
        proptest::option::of("[a-z]{0,4}"),
        0u8..3,
        "[a-z]{0,3}",
        any::<i64>(),
    )
        .prop_map(
            |(status, last_seq, snap, end_reason, id, occurred_at)| KeyState {
                status: status.into(),
                last_seq,
                snapshot: snap
                    .map(|t| format!("{{\"text\":\"{t}\"}}"))
                    .unwrap_or_default(),
                end_reason,
                error: if status == "error" {
                    "boom".into()
                } else {
                    String::new()
                },
                event_id: format!("e-{id}"),
                event_type: "stream.close".into(),
                visibility: id.clone(),
                occurred_at,
            },
        )
}

fn op() -> impl Strategy<Value = MetaRecord> {
    prop_oneof![
        (
            channel(),
            prop::sample::select(vec!["m0", "m1"]),
            proptest::option::of(uid()),
            any::<i64>(),
            prop::sample::select(vec!["main", "tool", "__finish__"]),
            key_state()
        )
            .prop_map(
                |((channel_id, channel_type), no, from, message_id, key, state)| {
                    MetaRecord::MsgEvent {
                        channel_id,
                        channel_type,
                        client_msg_no: no.into(),
                        from_uid: from.unwrap_or_default(),
                        message_id,
                        event_key: key.into(),
                        state,
                    }
                }
            ),
        (uid(), "[a-z.]{0,3}").prop_map(|(uid, plugin_no)| MetaRecord::PluginNo { uid, plugin_no }),
        (uid(), 0u8..3, "[a-z]{0,3}", 0u8..2).prop_map(|(uid, device_flag, token, lvl)| {
            MetaRecord::Token {
                uid,
                device_flag,
                token: DeviceToken {
                    token,
                    device_level: lvl,
                },
            }
        }),
        (channel(), info()).prop_map(|((channel_id, channel_type), info)| {
            MetaRecord::ChannelUpsert {
                channel_id,
                channel_type,
                info,
            }
        }),
        (channel(), 0u64..20).prop_map(|((channel_id, channel_type), seq)| {
            MetaRecord::ChannelDelete {
                purged: vec![
                    (channel_id.clone(), seq),
                    (format!("{channel_id}____cmd"), seq / 2),
                ],
                channel_id,
                channel_type,
            }
        }),
        (uid(), channel()).prop_map(|(uid, (channel_id, channel_type))| {
            MetaRecord::ConvRemove {
                uid,
                channel_id,
                channel_type,
            }
        }),
        (
            uid(),
            channel(),
            proptest::option::of(0u64..20),
            proptest::option::of(0u64..20),
            any::<bool>()
        )
            .prop_map(
                |(uid, (channel_id, channel_type), readed_to, deleted_to, cmd)| {
                    MetaRecord::ConvPos {
                        uid,
                        channel_id: if cmd {
                            format!("{channel_id}____cmd")
                        } else {
                            channel_id
                        },
                        channel_type,
                        readed_to,
                        deleted_to,
                        cmd,
                    }
                }
            ),
        (mode(), uids()).prop_map(|(mode, uids)| MetaRecord::SystemUids { mode, uids }),
        (
            channel(),
            prop::sample::select(vec![
                ListKind::Subscribers,
                ListKind::Blacklist,
                ListKind::Whitelist
            ]),
            mode(),
            uids()
        )
            .prop_map(
                |((channel_id, channel_type), list, mode, uids)| MetaRecord::List {
                    channel_id,
                    channel_type,
                    list,
                    mode,
                    uids,
                }
            ),
    ]
}

/// Ops as one shard logs them: every op on the globals owner, no global op elsewhere.
fn shard_ops(ops: Vec<MetaRecord>, owner: bool) -> Vec<MetaRecord> {
    ops.into_iter()
        .filter(|o| owner || !o.is_global())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn snapshot_then_tail_equals_full_replay(
        ops in proptest::collection::vec(op(), 0..80),
        split in 0usize..=80,
        owner in any::<bool>(),
    ) {
        let ops = shard_ops(ops, owner);
        let split = split.min(ops.len());
        let live = replay_all(&ops[..split]);
        let bytes = live.encode(owner);
        let mut restored = Model::decoded(&bytes);
        prop_assert_eq!(restored.canon(), live.canon(), "round trip");
        for op in &ops[split..] {
            restored.apply(op);
        }
        prop_assert_eq!(restored.canon(), replay_all(&ops).canon());
    }

    #[test]
    fn truncated_or_altered_snapshots_are_errors(
        ops in proptest::collection::vec(op(), 1..40),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let bytes = replay_all(&ops).encode(true);
        let cut = cut.index(bytes.len());
        let mut m = Model::default();
        prop_assert!(decode(&bytes[..cut], &mut m.owned()).is_err());
        // Any single changed byte is an error or some state, never a panic (the storage
        // layer's CRC turns it into an error before this).
        let mut bad = bytes.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 0x5a;
        let _ = decode(&bad, &mut Model::default().owned());
    }
}

/// Where the process dies while the shard writes a snapshot.
#[derive(Debug, Clone, Copy)]
enum Step {
    AfterBegin,
    AfterTempFile,
    AfterInstall,
    Finished,
}

fn step() -> impl Strategy<Value = Step> {
    prop::sample::select(vec![
        Step::AfterBegin,
        Step::AfterTempFile,
        Step::AfterInstall,
        Step::Finished,
    ])
}

fn rt<F: std::future::Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Logs and applies one op, as `Shard::persist_meta` does.
fn log(meta: &mut MetaLog, live: &mut Model, rec: &MetaRecord) {
    meta.append(KIND_JSON, &rec.encode()).expect("append");
    live.apply(rec);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A first snapshot after `a` ops, a second begun after `b` more with `c` ops logged while
    /// it is written; the process dies at `step` of the second (after finishing it, `d` more
    /// ops are logged). Reopening restores exactly the replay of every logged op.
    #[test]
    fn a_crash_at_any_step_restores_every_logged_op(
        ops in proptest::collection::vec(op(), 0..120),
        cuts in (0usize..=120, 0usize..=120, 0usize..=120),
        step in step(),
        owner in any::<bool>(),
    ) {
        let ops = shard_ops(ops, owner);
        let mut cuts = [cuts.0.min(ops.len()), cuts.1.min(ops.len()), cuts.2.min(ops.len())];
        cuts.sort_unstable();
        let [a, b, c] = cuts;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = StoreConfig::new(dir.path());
        cfg.meta_segment_size = 4 << 10;
        cfg.sync_policy = SyncPolicy::Always;
        let logged = rt(async {
            let mut meta = MetaLog::open(&cfg).unwrap();
            let mut live = Model::default();
            for op in &ops[..a] {
                log(&mut meta, &mut live, op);
            }
            meta.write_snapshot(live.encode(owner)).await.unwrap();
            for op in &ops[a..b] {
                log(&mut meta, &mut live, op);
            }
            let pending = meta.begin_snapshot().unwrap();
            let bytes = live.encode(owner);
            for op in &ops[b..c] {
                log(&mut meta, &mut live, op);
            }
            let mut logged = c;
            match step {
                Step::AfterBegin => {}
                Step::AfterTempFile => pending.write_temp(bytes).await.unwrap(),
                Step::AfterInstall => {
                    pending.write_temp(bytes).await.unwrap();
                    pending.install().await.unwrap();
                }
                Step::Finished => {
                    let written = pending.write(bytes).await.map_err(|(_, e)| e).unwrap();
                    meta.finish_snapshot(written).unwrap();
                    for op in &ops[c..] {
                        log(&mut meta, &mut live, op);
                    }
                    logged = ops.len();
                }
            }
            // Acknowledged ops are durable before the process dies.
            if meta.end_lsn() > 0 {
                meta.wait_durable(meta.end_lsn() - 1).await.unwrap();
            }
            logged
        });
        let restored = rt(async {
            let mut meta = MetaLog::open(&cfg).unwrap();
            let mut m = Model::default();
            restore(&mut meta, &mut m.owned()).unwrap();
            m
        });
        prop_assert_eq!(restored.canon(), replay_all(&ops[..logged]).canon(), "{:?}", step);
    }
}

#[test]
fn an_unknown_version_is_refused_with_its_number() {
    let mut bytes = Model::default().encode(false);
    bytes[0] = 9;
    let err = decode(&bytes, &mut Model::default().owned()).unwrap_err();
    assert!(err.0.contains("version 9"), "{err}");
}

#[test]
fn derived_state_is_left_out() {
    let mut m = Model::default();
    // A delivery's conversation (no recorded position) and an unread CMD channel.
    let u = m.users.entry("u0");
    u.conversations.insert(
        ("g0".into(), 2),
        Conversation {
            last_msg_seq: 5,
            unread: 5,
            ..Default::default()
        },
    );
    u.extra_mut()
        .cmd_channels
        .insert(("g0____cmd".into(), 2), (3, 0));
    let bytes = m.encode(false);
    let (_, counts) = encode(
        &MetaView {
            channels: &m.channels,
            users: &m.users,
            events: &m.events,
            globals: None,
        },
        0,
    );
    assert_eq!(counts, Counts::default());
    assert!(Model::decoded(&bytes).users.get("u0").is_none());
}

/// Measurement (`cargo test --release --lib measure_snapshot_format -- --ignored --nocapture`):
/// this format against serde_json on a state of about a million entries.
#[test]
#[ignore = "a measurement"]
fn measure_snapshot_format() {
    use serde::{Deserialize, Serialize};
    use std::time::Instant;
    let mut m = Model::default();
    for c in 0..50_000u64 {
        let ch = m.channels.get_or_create(&format!("group-{c}"), 2);
        for k in 0..10u64 {
            ch.subscribers
                .insert(Arc::from(format!("user-{}", (c * 7 + k) % 200_000)));
        }
    }
    for u in 0..200_000u64 {
        let user = m.users.entry(&format!("user-{u}"));
        user.tokens.insert(
            0,
            DeviceToken {
                token: format!("token-{u}-0123456789abcdef"),
                device_level: 1,
            },
        );
        for k in 0..2u64 {
            user.conversations.insert(
                (format!("group-{}", (u * 3 + k) % 50_000), 2),
                Conversation {
                    readed_to_msg_seq: u + k,
                    last_msg_seq: u + k + 5,
                    unread: 5,
                    positioned: true,
                    ..Default::default()
                },
            );
        }
    }
    let view = MetaView {
        channels: &m.channels,
        users: &m.users,
        events: &m.events,
        globals: None,
    };
    // The compactor presizes the buffer from the previous snapshot: measure that case.
    let hint = encode(&view, 0).0.len();
    let t = Instant::now();
    let (bytes, counts) = encode(&view, hint + hint / 8);
    let enc = t.elapsed();
    let t = Instant::now();
    let back = Model::decoded(&bytes);
    let dec = t.elapsed();
    assert!(back.canon() == m.canon(), "the state round-trips");
    println!(
        "binary v1: {} entries, {} bytes, encode {:.0} ms, decode {:.0} ms",
        counts.entries + counts.channels + counts.users,
        bytes.len(),
        enc.as_secs_f64() * 1e3,
        dec.as_secs_f64() * 1e3
    );
    // The same data as serde_json (borrowed on the way out, owned on the way in).
    type JsonUser = (
        String,
        Vec<(u8, DeviceToken)>,
        Vec<(String, u8, u64, u64, u64)>,
    );
    #[derive(Serialize, Deserialize)]
    struct J {
        channels: Vec<(String, u8, ChannelInfo, Vec<String>)>,
        users: Vec<JsonUser>,
    }
    let t = Instant::now();
    let j = J {
        channels: m
            .channels
            .iter()
            .map(|((id, ty), c)| {
                (
                    id.clone(),
                    *ty,
                    c.info.clone(),
                    c.subscribers.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect(),
        users: m
            .users
            .iter()
            .map(|(uid, u)| {
                (
                    uid.to_string(),
                    u.tokens.iter().map(|(f, t)| (*f, t.clone())).collect(),
                    u.conversations
                        .iter()
                        .map(|((id, ty), c)| {
                            (
                                id.clone(),
                                *ty,
                                c.readed_to_msg_seq,
                                c.deleted_to_seq,
                                c.last_msg_seq,
                            )
                        })
                        .collect(),
                )
            })
            .collect(),
    };
    let json = serde_json::to_vec(&j).unwrap();
    let jenc = t.elapsed();
    let t = Instant::now();
    let parsed: J = serde_json::from_slice(&json).unwrap();
    let jdec = t.elapsed();
    assert_eq!(parsed.users.len(), 200_000);
    println!(
        "serde_json: {} bytes, encode {:.0} ms, parse only (not yet into the maps) {:.0} ms",
        json.len(),
        jenc.as_secs_f64() * 1e3,
        jdec.as_secs_f64() * 1e3
    );
}

#[test]
fn version_1_snapshots_still_load() {
    let mut live = Model::default();
    live.apply(&MetaRecord::List {
        channel_id: "g".into(),
        channel_type: 2,
        list: ListKind::Subscribers,
        mode: ListMode::Add,
        uids: vec!["a".into(), "b".into()],
    });
    let mut bytes = live.encode(false);
    // Version 1 is version 3 without the trailing purged and events sections (here: two empty
    // counts).
    assert_eq!(bytes[0], VERSION);
    assert_eq!(&bytes[bytes.len() - 8..], &[0; 8]);
    bytes.truncate(bytes.len() - 8);
    bytes[0] = 1;
    assert_eq!(Model::decoded(&bytes).canon(), live.canon());
    // And a purged channel survives a version 2 round trip.
    live.apply(&MetaRecord::ChannelDelete {
        channel_id: "g".into(),
        channel_type: 2,
        purged: vec![("g".into(), 7)],
    });
    let back = Model::decoded(&live.encode(false));
    assert_eq!(back.channels.purged_to("g", 2), 7);
    assert_eq!(back.canon(), live.canon());
}

#[test]
fn version_2_snapshots_still_load_and_events_round_trip() {
    let mut live = Model::default();
    live.apply(&MetaRecord::ChannelDelete {
        channel_id: "g".into(),
        channel_type: 2,
        purged: vec![("g".into(), 7)],
    });
    let mut bytes = live.encode(false);
    // Version 2 is version 3 without the trailing events section (here: an empty count).
    assert_eq!(&bytes[bytes.len() - 4..], &[0, 0, 0, 0]);
    bytes.truncate(bytes.len() - 4);
    bytes[0] = 2;
    assert_eq!(Model::decoded(&bytes).canon(), live.canon());
    live.apply(&MetaRecord::MsgEvent {
        channel_id: "u1@u2".into(),
        channel_type: 1,
        client_msg_no: "cmn".into(),
        from_uid: "u1".into(),
        message_id: 42,
        event_key: "main".into(),
        state: KeyState {
            status: "closed".into(),
            last_seq: 3,
            snapshot: r#"{"kind":"text","text":"hi"}"#.into(),
            occurred_at: -1,
            ..Default::default()
        },
    });
    let back = Model::decoded(&live.encode(false));
    assert_eq!(back.events.len(), 1);
    assert_eq!(back.canon(), live.canon());
}
