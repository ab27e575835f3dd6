//! A shard's replicated log: where the owner of a slot proposes entries and learns when they
//! committed. In single-node mode it is the shard's own message log: a proposal is an append
//! (which assigns the channel's next seq at once), a commit the group commit's fdatasync.

use jindou_storage::{DedupKey, DurableFuture, MessageFields, MessageStore, Result};

/// An accepted proposal: the seq the entry takes in its channel and the ticket its commit is
/// awaited with. Tickets of one shard increase in proposal order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The message's seq in its channel (dense from 1).
    pub message_seq: u64,
    /// Await [`SlotLog::committed`] with it.
    pub ticket: u64,
}

/// The log of the slots one shard hosts.
#[derive(Debug, Default)]
pub struct SlotLog {}

impl SlotLog {
    /// The single-node log (the shard's own message log).
    pub fn local() -> SlotLog {
        SlotLog {}
    }

    /// Proposes a message for its channel's slot; an error means nothing was proposed.
    /// `dedup` is the send's de-duplication key, from [`MessageStore::dedup_key`].
    pub fn propose_message(
        &self,
        messages: &mut MessageStore,
        channel_id: &str,
        channel_type: u8,
        msg: &MessageFields<'_>,
        dedup: Option<DedupKey>,
    ) -> Result<Proposal> {
        let a = messages.append_fields_keyed(channel_id, channel_type, msg, dedup)?;
        Ok(Proposal {
            message_seq: a.message_seq,
            ticket: a.lsn,
        })
    }

    /// Resolves once every proposal up to `ticket` committed (or with the failure that
    /// stopped it).
    pub fn committed(&self, messages: &MessageStore, ticket: u64) -> DurableFuture {
        messages.wait_durable(ticket)
    }

    /// Whether the entry of `ticket` is committed already (a retried send may be answered
    /// at once).
    pub fn is_committed(&self, messages: &MessageStore, ticket: u64) -> bool {
        ticket < messages.durable_lsn()
    }
}
