//! The one error type of the store: every failure a caller must tell apart.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a store operation failed. Corrupt data on disk is an error, never a panic.
#[derive(Debug)]
pub enum StoreError {
    /// An I/O error other than a full disk.
    Io(io::Error),
    /// The disk is full (ENOSPC while preallocating a segment or syncing): the append is
    /// refused, the log stays consistent, and appending resumes when space returns.
    DiskFull,
    /// A record failed its length or CRC check where it is not a torn tail (followed by valid
    /// records, or in a sealed segment): the store refuses to open without `repair`.
    Corrupt {
        /// The segment file holding the bad record.
        segment: PathBuf,
        /// Byte offset of the bad record inside the segment.
        offset: u64,
        /// What was wrong with it.
        reason: String,
    },
    /// The requested records were deleted by retention; `first_available` is the first LSN
    /// (log level) or the first seq (channel level) still stored.
    TruncatedByRetention {
        /// First LSN or message_seq still available.
        first_available: u64,
    },
    /// No record at this LSN (past the end, or not a record start).
    NotFound,
    /// A record larger than a whole segment (or than `u32::MAX`).
    TooLarge {
        /// Framed size asked for.
        size: usize,
        /// The largest framed size that fits.
        max: usize,
    },
    /// An fsync failed with an error other than ENOSPC: durability can no longer be promised
    /// for anything written since, so the log refuses further work until it is reopened.
    SyncFailed(String),
    /// The store was dropped while the caller waited for durability.
    Closed,
    /// A meta snapshot is already being written (one at a time).
    SnapshotBusy,
    /// A snapshot, checkpoint or index file is malformed.
    BadFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
}

impl StoreError {
    /// Maps an I/O error, turning ENOSPC/EDQUOT into [`StoreError::DiskFull`].
    pub fn from_io(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => StoreError::DiskFull,
            _ => StoreError::Io(e),
        }
    }

    /// A cheap copy for fanning one failure out to many waiters.
    pub(crate) fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Io(e) => StoreError::Io(io::Error::new(e.kind(), e.to_string())),
            StoreError::DiskFull => StoreError::DiskFull,
            StoreError::Corrupt {
                segment,
                offset,
                reason,
            } => StoreError::Corrupt {
                segment: segment.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            StoreError::TruncatedByRetention { first_available } => {
                StoreError::TruncatedByRetention {
                    first_available: *first_available,
                }
            }
            StoreError::NotFound => StoreError::NotFound,
            StoreError::TooLarge { size, max } => StoreError::TooLarge {
                size: *size,
                max: *max,
            },
            StoreError::SyncFailed(s) => StoreError::SyncFailed(s.clone()),
            StoreError::Closed => StoreError::Closed,
            StoreError::SnapshotBusy => StoreError::SnapshotBusy,
            StoreError::BadFile { path, reason } => StoreError::BadFile {
                path: path.clone(),
                reason: reason.clone(),
            },
        }
    }
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::from_io(e)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "storage I/O error: {e}"),
            StoreError::DiskFull => write!(f, "disk full: the write was refused"),
            StoreError::Corrupt {
                segment,
                offset,
                reason,
            } => write!(
                f,
                "corrupt record in {} at offset {offset}: {reason} (open with repair to truncate there)",
                segment.display()
            ),
            StoreError::TruncatedByRetention { first_available } => write!(
                f,
                "requested records were deleted by retention (first available: {first_available})"
            ),
            StoreError::NotFound => write!(f, "no record at this position"),
            StoreError::TooLarge { size, max } => {
                write!(f, "record of {size} bytes exceeds the maximum of {max}")
            }
            StoreError::SyncFailed(s) => {
                write!(f, "fsync failed, durability lost until reopen: {s}")
            }
            StoreError::Closed => write!(f, "the store was closed"),
            StoreError::SnapshotBusy => write!(f, "a meta snapshot is already being written"),
            StoreError::BadFile { path, reason } => {
                write!(f, "bad file {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
