//! Where a message is stored, as one rule for every way in (wkproto SEND, REST sends, streams):
//! the storage channel id a sender's target names (spec http-api §2).

use super::ids::{person_fake_id, CMD_SUFFIX};
use crate::proto::ChannelType;

/// The storage channel of a message from `from` to `target` of `channel_type`: the fake id of
/// the two uids for person chats, the id itself otherwise; sync-once (CMD) messages go to the
/// `____cmd` twin, except in temp channels (which are CMD-only already).
pub fn storage_channel(from: &str, target: &str, channel_type: u8, sync_once: bool) -> String {
    let mut id = if channel_type == ChannelType::PERSON.0 {
        person_fake_id(from, target)
    } else {
        target.to_string()
    };
    if sync_once && channel_type != ChannelType::TEMP.0 {
        id.push_str(CMD_SUFFIX);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_group_cmd_and_temp_channels() {
        let fake = person_fake_id("a", "b");
        assert_eq!(storage_channel("a", "b", 1, false), fake);
        assert_eq!(storage_channel("b", "a", 1, false), fake);
        assert_eq!(
            storage_channel("a", "b", 1, true),
            format!("{fake}{CMD_SUFFIX}")
        );
        assert_eq!(storage_channel("a", "g", 2, false), "g");
        assert_eq!(storage_channel("a", "g", 2, true), format!("g{CMD_SUFFIX}"));
        assert_eq!(storage_channel("a", "t", 8, true), "t");
    }
}
