//! Where the files that ship with the program are found: the default model, the bundled
//! wardrobe and the sample photos.
//!
//! A [`Resource`] has a path in a source checkout (such as `assets/wardrobe`) and a path in an
//! installed data folder (such as `wardrobe`). The first of these folders that holds it wins:
//!
//! 1. the folder its environment variable names, when set and not empty (a command-line flag
//!    replaces the whole lookup; the callers handle that);
//! 2. the checkout path under the working folder: running from a source checkout;
//! 3. the checkout path under the executable's folder: an unpacked archive, a Windows install;
//! 4. the installed path under `<exe dir>/../share/fitting-room/`: a Unix install prefix, such
//!    as the Debian package's `/usr/bin` and `/usr/share`;
//! 5. on macOS, the installed path under `<exe dir>/../Resources/`: an app bundle's
//!    `Contents/MacOS` and `Contents/Resources`.
//!
//! The executable's own path is resolved by the OS (`/proc/self/exe` on Linux), so a symlink to
//! the program, such as one in `~/.local/bin`, still finds the files beside the real program.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The program's folder under `share/` in an install prefix.
pub const SHARE_DIR: &str = "fitting-room";

/// Something that ships with the program, and where to look for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// What it is, for messages ("model", "wardrobe").
    pub what: &'static str,
    /// Environment variable naming its folder, if it has one.
    pub env: Option<&'static str>,
    /// Its path in a source checkout, relative to the checkout's root.
    pub checkout: &'static str,
    /// Its path in an installed data folder (`share/fitting-room/`, an app bundle's `Resources/`).
    pub installed: &'static str,
}

/// No candidate folder held the resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {what} found; looked in {}", PathList(looked))]
pub struct NotFound {
    pub what: &'static str,
    /// The folders looked in, in order.
    pub looked: Vec<PathBuf>,
}

impl NotFound {
    /// The folders looked in, as one comma-separated line.
    pub fn looked_list(&self) -> String {
        PathList(&self.looked).to_string()
    }
}

struct PathList<'a>(&'a [PathBuf]);

impl fmt::Display for PathList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, path) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", path.display())?;
        }
        Ok(())
    }
}

impl Resource {
    /// The folders to look in, in order, for this process (see the module docs).
    pub fn candidates(&self) -> Vec<PathBuf> {
        let (env, exe_dir) = self.context();
        self.candidates_for(env, exe_dir.as_deref())
    }

    /// The folders to look in, given the environment variable's value and the executable's
    /// folder.
    pub fn candidates_for(&self, env: Option<OsString>, exe_dir: Option<&Path>) -> Vec<PathBuf> {
        let mut candidates: Vec<PathBuf> = env
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .into_iter()
            .collect();
        candidates.push(PathBuf::from(self.checkout));
        if let Some(exe_dir) = exe_dir {
            candidates.push(exe_dir.join(self.checkout));
            if let Some(prefix) = exe_dir.parent() {
                candidates.push(prefix.join("share").join(SHARE_DIR).join(self.installed));
                if cfg!(target_os = "macos") {
                    candidates.push(prefix.join("Resources").join(self.installed));
                }
            }
        }
        candidates
    }

    /// The first of [`candidates`](Self::candidates) that `holds` accepts.
    pub fn find(&self, holds: impl Fn(&Path) -> bool) -> Result<PathBuf, NotFound> {
        let (env, exe_dir) = self.context();
        self.find_for(env, exe_dir.as_deref(), holds)
    }

    /// This process's value of the environment variable, and the executable's folder.
    fn context(&self) -> (Option<OsString>, Option<PathBuf>) {
        let env = self.env.and_then(std::env::var_os);
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf));
        (env, exe_dir)
    }

    /// [`find`](Self::find) given the environment variable's value and the executable's folder.
    pub fn find_for(
        &self,
        env: Option<OsString>,
        exe_dir: Option<&Path>,
        holds: impl Fn(&Path) -> bool,
    ) -> Result<PathBuf, NotFound> {
        let overridden = env.as_ref().is_some_and(|value| !value.is_empty());
        let candidates = self.candidates_for(env, exe_dir);
        for (i, dir) in candidates.iter().enumerate() {
            if holds(dir) {
                return Ok(dir.clone());
            }
            if i == 0 && overridden {
                // A mistyped override should not go unnoticed, even though a bundled copy may
                // still be found.
                log::warn!(
                    "{} names `{}`, which holds no {}; looking in the usual places",
                    self.env.unwrap_or_default(),
                    dir.display(),
                    self.what
                );
            }
        }
        Err(NotFound {
            what: self.what,
            looked: candidates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THING: Resource = Resource {
        what: "thing",
        env: Some("FITTING_ROOM_TEST_THING"),
        checkout: "assets/things",
        installed: "things",
    };

    #[test]
    fn candidates_in_order() {
        let exe_dir = Path::new("/opt/fr/bin");
        let mut expected = vec![
            PathBuf::from("/custom/things"),
            PathBuf::from("assets/things"),
            PathBuf::from("/opt/fr/bin/assets/things"),
            PathBuf::from("/opt/fr/share/fitting-room/things"),
        ];
        if cfg!(target_os = "macos") {
            expected.push(PathBuf::from("/opt/fr/Resources/things"));
        }
        assert_eq!(
            THING.candidates_for(Some("/custom/things".into()), Some(exe_dir)),
            expected
        );
    }

    #[test]
    fn empty_override_is_ignored() {
        let candidates = THING.candidates_for(Some(OsString::new()), None);
        assert_eq!(candidates, vec![PathBuf::from("assets/things")]);
    }

    #[test]
    fn finds_the_install_prefix_layout() {
        // The Debian package: /usr/bin/fitting-room and /usr/share/fitting-room/things.
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("usr/bin");
        let data = root.path().join("usr/share/fitting-room/things");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        let found = THING.find_for(None, Some(&bin), Path::is_dir).unwrap();
        assert_eq!(found, data);
    }

    #[test]
    fn next_to_the_program_comes_before_the_prefix() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("bin");
        std::fs::create_dir_all(bin.join("assets/things")).unwrap();
        std::fs::create_dir_all(root.path().join("share/fitting-room/things")).unwrap();
        let found = THING.find_for(None, Some(&bin), Path::is_dir).unwrap();
        assert_eq!(found, bin.join("assets/things"));
    }

    #[test]
    fn override_wins_and_a_bad_one_falls_through() {
        let root = tempfile::tempdir().unwrap();
        let custom = root.path().join("custom");
        let bin = root.path().join("usr/bin");
        let data = root.path().join("usr/share/fitting-room/things");
        std::fs::create_dir_all(&custom).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        let found = THING.find_for(Some(custom.clone().into()), Some(&bin), Path::is_dir);
        assert_eq!(found.unwrap(), custom);
        let missing = root.path().join("missing");
        let found = THING.find_for(Some(missing.into()), Some(&bin), Path::is_dir);
        assert_eq!(found.unwrap(), data);
    }

    #[test]
    fn not_found_lists_every_place() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("usr/bin");
        let err = THING
            .find_for(None, Some(&bin), |_| false)
            .expect_err("nothing holds it");
        assert_eq!(err.looked, THING.candidates_for(None, Some(&bin)));
        let message = err.to_string();
        assert!(message.starts_with("no thing found; looked in assets/things, "));
        assert!(
            message.contains("usr/share/fitting-room/things"),
            "{message}"
        );
    }
}
