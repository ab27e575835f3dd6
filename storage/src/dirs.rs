//! Directories whose names are durable.
//!
//! A new directory entry (a file's or a directory's name) is durable only once the directory
//! holding it is fsynced. The logs fsync their own directory when a segment is created; this
//! makes the directories themselves durable, so a power cut cannot take away a directory that
//! holds acknowledged records.

use std::path::Path;

/// `create_dir_all(dir)`, then fsync of the parent of every directory it had to create, and of
/// `dir`'s parent in any case (a crash between an earlier creation and its sync is repaired
/// by the next open).
pub fn create_dir_durable(dir: &Path) -> std::io::Result<()> {
    let mut parents = Vec::new();
    let mut p = dir;
    loop {
        let parent = match p.parent() {
            Some(q) if q.as_os_str().is_empty() => Path::new("."),
            Some(q) => q,
            None => break,
        };
        if !parents.contains(&parent) {
            parents.push(parent);
        }
        if p.exists() {
            break;
        }
        p = parent;
    }
    std::fs::create_dir_all(dir)?;
    for parent in parents {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn creates_nested_directories() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/b/c");
        super::create_dir_durable(&d).unwrap();
        assert!(d.is_dir());
        super::create_dir_durable(&d).unwrap();
    }
}
