//! openraft's state machine for one group: committed commands go to the [`Host`] (the shard
//! applies them to its message store and metadata), or for the configuration group to the
//! member list. What was applied is tracked here and
//! checkpointed by the shard's cluster host once the stores are durable, so a restart
//! re-applies only the tail (applying is idempotent for that tail).
//!
//! No snapshots: the raft log is kept (it is the replicas' catch-up source), so openraft
//! never needs one; building or installing one is refused as an error.

use super::ports::Host;
use super::types::*;
use futures_util::TryStreamExt;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use std::cell::RefCell;
use std::io;
use std::rc::Rc;

/// Takes a committed member list (the configuration group's own commands).
pub type MembersHandler = Rc<dyn Fn(&[u8])>;

/// What a group has applied.
#[derive(Clone, Debug, Default)]
pub struct Applying {
    /// The last applied entry.
    pub last_applied: Option<LogId>,
    /// The membership in effect.
    pub membership: StoredMembership,
}

/// Where a group's committed commands go.
#[derive(Clone)]
pub enum Applier {
    /// A slot's commands: to the host (the shard).
    Slot(Rc<dyn Host>),
    /// The configuration group's commands: member lists (first byte
    /// [`CMD_MEMBERS`](super::host::CMD_MEMBERS)) to `members`, the rest (the global tables'
    /// changes) to the host.
    Config {
        /// The shard.
        host: Rc<dyn Host>,
        /// Takes a committed member list.
        members: MembersHandler,
    },
}

/// One group's state machine.
#[derive(Clone)]
pub struct Machine {
    g: GroupId,
    applier: Applier,
    state: Rc<RefCell<Applying>>,
    /// The last log index when the group started here: entries up to it may have been
    /// applied before; later ones were not.
    replay_until: Option<u64>,
}

impl Machine {
    /// Group `g`'s machine, resuming from `restored` (the last durable checkpoint), with
    /// `last_index` the group's last log index at start (`None`: an empty log).
    pub fn new(
        g: GroupId,
        applier: Applier,
        restored: Applying,
        last_index: Option<u64>,
    ) -> Machine {
        Machine {
            g,
            applier,
            state: Rc::new(RefCell::new(restored)),
            replay_until: last_index,
        }
    }

    /// What the group has applied now.
    pub fn applying(&self) -> Applying {
        self.state.borrow().clone()
    }
}

fn no_snapshots() -> io::Error {
    io::Error::other("snapshots are not used: the raft log is kept for catch-up")
}

impl RaftSnapshotBuilder<TC> for Machine {
    type SnapshotData = bytes::Bytes;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        Err(no_snapshots())
    }
}

impl RaftStateMachine<TC> for Machine {
    type SnapshotData = bytes::Bytes;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let s = self.state.borrow();
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: futures_util::Stream<Item = Result<EntryResponder<TC>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let replay = self.replay_until.is_some_and(|l| entry.log_id.index <= l);
            let answer = match &entry.payload {
                EntryPayload::Blank => Applied::default(),
                EntryPayload::Normal(cmd) => match &self.applier {
                    Applier::Slot(host) => host.apply(self.g, entry.log_id.index, &cmd.0, replay),
                    Applier::Config { members, .. }
                        if cmd.0.first() == Some(&super::host::CMD_MEMBERS) =>
                    {
                        members(&cmd.0);
                        Applied::default()
                    }
                    Applier::Config { host, .. } => {
                        host.apply(self.g, entry.log_id.index, &cmd.0, replay)
                    }
                },
                EntryPayload::Membership(m) => {
                    self.state.borrow_mut().membership =
                        StoredMembership::new(Some(entry.log_id), m.clone());
                    Applied::default()
                }
            };
            self.state.borrow_mut().last_applied = Some(entry.log_id);
            if let Some(r) = responder {
                r.send(answer);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        _meta: &SnapshotMeta,
        _snapshot: bytes::Bytes,
    ) -> Result<(), io::Error> {
        Err(no_snapshots())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(None)
    }
}
