//! Commands written to the control file `<mount>/.powerfs` (one per write):
//!
//! - `cut`: power cut, every unsynced write, size change and directory entry is lost;
//! - `cut tear`: the same, but a random whole number of 512-byte sectors at the start of the
//!   last unsynced write reaches the disk first (a torn write);
//! - `cut tear=N`: the same, keeping exactly the first N bytes of that write;
//! - `status`: nothing; a read of the control file shows the counters and the last cut.
//!
//! After a cut every operation but the control file's fails with EIO: unmount and mount
//! again (the kernel's page cache of the old mount must not serve the lost data).

use crate::model::{Model, Res, Tear};

/// A parsed control command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// A power cut.
    Cut(Tear),
    /// Only refresh the status.
    Status,
}

/// Parses one command (see the module doc).
pub fn parse(text: &str) -> Option<Command> {
    let mut words = text.split_whitespace();
    let cmd = match (words.next()?, words.next()) {
        ("status", None) => Command::Status,
        ("cut", None) => Command::Cut(Tear::None),
        ("cut", Some("tear")) => Command::Cut(Tear::Random(seed())),
        ("cut", Some(t)) => Command::Cut(Tear::Bytes(t.strip_prefix("tear=")?.parse().ok()?)),
        _ => return None,
    };
    words.next().is_none().then_some(cmd)
}

/// A seed that differs between cuts.
pub fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

/// Runs a command against the model (a read of the control file then shows its effect).
pub fn run(model: &mut Model, text: &str) -> Res<()> {
    if let Command::Cut(tear) = parse(text).ok_or(libc::EINVAL)? {
        model.cut(tear);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse("cut"), Some(Command::Cut(Tear::None)));
        assert_eq!(
            parse(" cut  tear=100\n"),
            Some(Command::Cut(Tear::Bytes(100)))
        );
        assert!(matches!(
            parse("cut tear"),
            Some(Command::Cut(Tear::Random(_)))
        ));
        assert_eq!(parse("status"), Some(Command::Status));
        assert_eq!(parse("cut now"), None);
        assert_eq!(parse("cut tear=1 x"), None);
        assert_eq!(parse(""), None);
    }
}
