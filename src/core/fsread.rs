//! Reading files that an attacker may have placed: only regular files, never more than a limit.
//! And writing the tool's own files: whole or not at all, private to their owner.
//!
//! A bundle, a roster or a signature file can be a symlink to `/dev/zero`, a FIFO that never
//! answers, or a file of many gigabytes. Each read here opens without blocking and without
//! following a final symlink (where asked), checks that what it opened is a regular file, and
//! reads at most `max` bytes; the error names the file and says which limit it broke.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReadError {
    #[error("no such file")]
    Missing,
    #[error("is a symbolic link, which is not followed here: put the file itself in its place")]
    Symlink,
    #[error("is not a regular file (a directory, FIFO, socket or device); give a regular file")]
    NotRegular,
    #[error("is larger than {max} bytes, more than a file of this kind ever holds; it is not read")]
    TooLarge { max: u64 },
    #[error("{0}")]
    Io(std::io::Error),
}

/// Reads a regular file of at most `max` bytes, refusing a symlink in the final component.
pub(crate) fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    read(path, max, false)
}

/// Like [`read_regular`] but follows a symlink (config and roster paths may be links the
/// operator made); the file it leads to must still be regular and within `max`.
pub(crate) fn read_following(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    read(path, max, true)
}

fn read(path: &Path, max: u64, follow: bool) -> Result<Vec<u8>, ReadError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    let mut flags = rustix::fs::OFlags::NONBLOCK;
    if !follow {
        flags |= rustix::fs::OFlags::NOFOLLOW;
    }
    opts.custom_flags(flags.bits() as i32);
    let file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::Missing),
        // O_NOFOLLOW on a symlink fails with ELOOP.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => return Err(ReadError::Symlink),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge { max });
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max + 1).read_to_end(&mut buf).map_err(ReadError::Io)?;
    if buf.len() as u64 > max {
        return Err(ReadError::TooLarge { max });
    }
    Ok(buf)
}

/// Writes a file via a temporary file beside it and a rename (`tempfile`'s persist), so a crash
/// never leaves half a file. The temporary file gets a fresh random name and is created exclusively
/// (never through a planted symlink), readable by its owner only (0600), and synced before the
/// rename; the directory is synced after it.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".tmp-breakglass-").tempfile_in(dir)?;
    // The file's own write, not the temp file's (which wraps the error with its path and hides
    // the OS error a full disk is recognised by).
    tmp.as_file_mut().write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Creates a directory (and its parents) readable by its owner only (0700): bundles hold reasons
/// and notes.
pub(crate) fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_links_devices_fifos_and_big_files() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap(), b"hello");
        assert!(matches!(read_regular(&f, 4), Err(ReadError::TooLarge { max: 4 })));
        let l = d.path().join("l");
        std::os::unix::fs::symlink("/dev/zero", &l).unwrap();
        assert!(matches!(read_regular(&l, 100), Err(ReadError::Symlink)));
        assert!(matches!(read_following(&l, 100), Err(ReadError::NotRegular)));
        assert!(matches!(read_regular(Path::new("/dev/zero"), 100), Err(ReadError::NotRegular)));
        assert!(matches!(read_regular(&d.path().join("none"), 100), Err(ReadError::Missing)));
        assert!(matches!(read_regular(d.path(), 100), Err(ReadError::NotRegular)));
        let fifo = d.path().join("fifo");
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "mkfifo (coreutils) is needed for this test");
        assert!(matches!(read_regular(&fifo, 100), Err(ReadError::NotRegular)));
    }
}
