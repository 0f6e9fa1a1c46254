//! Writing a file atomically: the data goes to a new hidden file in the same folder, is synced,
//! then renamed over the target. Readers see the old file or the new one, never a partial one,
//! and a failed write leaves nothing behind. Every writer of the crate goes through here.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Writes `path` through a temporary file: `write` fills the file (it gets the open file and its
/// path, for writers that want a path); then it is synced and renamed into place. On any error
/// the temporary file is removed. `io_error` turns the I/O errors of this helper into `E`.
pub fn write_atomic_with<E>(
    path: &Path,
    io_error: impl Fn(io::Error) -> E,
    write: impl FnOnce(&mut File, &Path) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp, mut file) = temp_file_in(&dir).map_err(&io_error)?;
    let result = (|| {
        write(&mut file, &tmp)?;
        // The writer may have written through the path: sync what is on disk.
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .and_then(|()| file.sync_all())
            .map_err(&io_error)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(&io_error)
    })();
    if result.is_err() {
        // Best effort: the error being returned matters more than the leftover.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |e| e, |file, _| io::Write::write_all(file, bytes))
}

/// Whether a file name is one of the temporary files of [`write_atomic_with`] (left behind only
/// by a crash; folders that are scanned skip them).
pub fn is_temp_file_name(name: &str) -> bool {
    name.starts_with(".fitting-room-") && name.ends_with(".tmp")
}

/// Creates a new hidden file in `dir`.
fn temp_file_in(dir: &Path) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    for attempt in 0..100u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let candidate = dir.join(format!(".fitting-room-{pid}-{nanos}-{attempt}.tmp"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(f) => return Ok((candidate, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("could not create a temporary file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_the_file_and_failures_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let failed: Result<(), io::Error> = write_atomic_with(
            &path,
            |e| e,
            |file, _| {
                io::Write::write_all(file, b"half")?;
                Err(io::Error::other("interrupted"))
            },
        );
        assert!(failed.is_err());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"two",
            "the old file is kept"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
    }
}
