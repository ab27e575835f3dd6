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

/// fsync of a directory: makes the names created, removed or renamed in it durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `bytes` atomically: writes them to `tmp` (same directory), and, when
/// `durable`, fsyncs it; renames it over `path`; when `durable`, fsyncs the directory. After a
/// crash or a power cut `path` holds either its old or its new content (a rename is durable
/// only once its directory is synced), and `tmp` may be left behind.
pub fn replace_file(tmp: &Path, path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    use std::io::Write;
    replace_file_with(tmp, path, durable, |f| f.write_all(bytes))
}

/// [`replace_file`] with the contents written by `fill` (streamed, not built in memory).
pub fn replace_file_with(
    tmp: &Path,
    path: &Path,
    durable: bool,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut f = std::fs::File::create(tmp)?;
    fill(&mut f)?;
    if durable {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(tmp, path)?;
    if durable {
        sync_dir(parent_of(path))?;
    }
    Ok(())
}

/// [`replace_file`] through the monoio runtime (the write and the two fsyncs do not block the
/// thread where the driver can do them asynchronously); must run inside a monoio runtime.
pub async fn replace_file_async(
    tmp: &Path,
    path: &Path,
    bytes: Vec<u8>,
    durable: bool,
) -> std::io::Result<()> {
    let f = monoio::fs::File::from_std(std::fs::File::create(tmp)?)?;
    let (r, _) = f.write_all_at(bytes, 0).await;
    r?;
    if durable {
        f.sync_all().await?;
    }
    f.close().await?;
    std::fs::rename(tmp, path)?;
    if durable {
        let d = monoio::fs::File::from_std(std::fs::File::open(parent_of(path))?)?;
        d.sync_all().await?;
        d.close().await?;
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

    #[test]
    fn replaces_a_file() {
        let t = tempfile::tempdir().unwrap();
        let (tmp, p) = (t.path().join("f.tmp"), t.path().join("f"));
        for (content, durable) in [(&b"one"[..], true), (b"two", false)] {
            super::replace_file(&tmp, &p, content, durable).unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), content);
            assert!(!tmp.exists());
        }
    }
}
