//! Why an owner refused or failed an operation, with the meaning a caller needs: a refusal of
//! the request itself, or a failure of the store (disk full, fsync failed) that a retry may
//! get past. The error, not the call site, decides the HTTP status ([`OwnerError::status`]).

use jindou_storage::StoreError;
use std::fmt;

/// Why an owner operation did not happen.
#[derive(Debug)]
pub enum OwnerError {
    /// The request is wrong (bad input, a rule forbids it): retrying it will not help.
    Refused(String),
    /// The store could not take or read the change.
    Store(StoreError),
}

impl OwnerError {
    /// The HTTP status this error answers with: 400 for a refusal, [`store_status`] for a
    /// store failure.
    pub fn status(&self) -> u16 {
        match self {
            OwnerError::Refused(_) => 400,
            OwnerError::Store(e) => store_status(e),
        }
    }
}

/// The HTTP status of a store failure: 503 for a condition of the node that a later retry
/// may get past (a full disk, an I/O or fsync failure, a closing store, a snapshot in
/// progress), 400 for a record too large to ever store, 500 for anything else (corruption,
/// a broken file).
pub fn store_status(e: &StoreError) -> u16 {
    match e {
        StoreError::DiskFull
        | StoreError::SyncFailed(_)
        | StoreError::Io(_)
        | StoreError::Closed
        | StoreError::SnapshotBusy => 503,
        StoreError::TooLarge { .. } => 400,
        StoreError::Corrupt { .. }
        | StoreError::TruncatedByRetention { .. }
        | StoreError::NotFound
        | StoreError::BadFile { .. } => 500,
    }
}

impl From<StoreError> for OwnerError {
    fn from(e: StoreError) -> Self {
        OwnerError::Store(e)
    }
}

impl fmt::Display for OwnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnerError::Refused(why) => f.write_str(why),
            OwnerError::Store(e) => write!(f, "could not store the change: {e}"),
        }
    }
}

impl std::error::Error for OwnerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OwnerError::Refused(_) => None,
            OwnerError::Store(e) => Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_decides_the_status() {
        assert_eq!(OwnerError::Refused("no".into()).status(), 400);
        assert_eq!(OwnerError::Store(StoreError::DiskFull).status(), 503);
        assert_eq!(
            OwnerError::Store(StoreError::SyncFailed("x".into())).status(),
            503
        );
        let io = std::io::Error::other("eio");
        assert_eq!(OwnerError::Store(StoreError::Io(io)).status(), 503);
        assert_eq!(OwnerError::Store(StoreError::Closed).status(), 503);
        assert_eq!(OwnerError::Store(StoreError::SnapshotBusy).status(), 503);
        let big = StoreError::TooLarge { size: 9, max: 8 };
        assert_eq!(OwnerError::Store(big).status(), 400);
        assert_eq!(OwnerError::Store(StoreError::NotFound).status(), 500);
        assert_eq!(
            OwnerError::Store(StoreError::DiskFull).to_string(),
            "could not store the change: disk full: the write was refused"
        );
    }
}
