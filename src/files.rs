//! The data dir and the files in it are for their owner alone: the database holds password
//! hashes and everyone's todos, `jwt.key` signs every token.
//!
//! New files and directories get their mode as they are made, not from a chmod afterwards:
//! between a create with the umask's mode and the chmod, another local user could open the file
//! and keep reading through that descriptor.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Makes `dir` (and any missing parent) readable by its owner only. A directory that exists
/// already keeps its mode: it is the user's (a home, a shared mount), and the files checkoff
/// keeps in it are private on their own.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates `path` empty for its owner alone, failing if it exists: for copies that must not
/// overwrite anything.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Makes sure the database file `path` exists and only its owner may open it, before SQLite
/// opens it. SQLite makes its `-wal` and `-shm` files with the database file's mode, so they
/// follow. A database from an older checkoff (made with the umask's mode, often 0644) is
/// tightened, with its `-wal` and `-shm` if a crash left them: nobody else has any business
/// reading it.
pub fn prepare_private_database(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        tighten(Path::new(&name))?;
    }
    Ok(())
}

/// Takes group and other access away from `path`, if it exists and they have any.
fn tighten(path: &Path) -> io::Result<()> {
    let mode = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions().mode(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if mode & 0o077 == 0 {
        return Ok(());
    }
    tracing::warn!(
        file = %path.display(),
        "{:o} let other users read it; made it 0600",
        mode & 0o777
    );
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_data_dir_checkoff_makes_is_for_its_owner_only() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a").join("data");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&parent.path().join("a")), 0o700);
    }

    #[test]
    fn a_data_dir_the_user_already_has_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
        create_private_dir(dir.path()).unwrap();
        assert_eq!(mode(dir.path()), 0o750);
    }

    #[test]
    fn a_private_file_is_never_made_over_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copy");
        create_private_file(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        let again = create_private_file(&path).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn an_older_database_readable_by_others_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("checkoff.db");
        let wal = dir.path().join("checkoff.db-wal");
        for file in [&db, &wal] {
            std::fs::write(file, b"").unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        prepare_private_database(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
        assert!(!dir.path().join("checkoff.db-shm").exists());
    }
}
