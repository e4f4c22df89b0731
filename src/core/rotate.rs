//! Rotating a secret at the close: the runbook sealed again, in memory, with the secret's new
//! value, and swapped in so that the live sealing is always exactly one of the two, never none and
//! never a mix.
//!
//! On disk, beside the live sealed runbook `R` (one filesystem, as the exchange needs):
//! - `.R.breakglass-rotate`: the new sealing, staged (unsigned) before the custodians set the
//!   value where it belongs; their signatures on its manifest are added when they confirm it took.
//! - [`commit`] exchanges it with `R` in one `renameat2(RENAME_EXCHANGE)` (the commit point), then
//!   renames what was live to `R.superseded-<serial>`: kept, and refused from then on (its serial
//!   is below the one this host has opened).
//! - `.R.breakglass-drill`: a drill's copy, staged and checked, then removed; never live.
//!
//! [`settle`] (run before any command reads the runbook) finishes a rotation killed after its
//! commit point, and keeps one killed before it aside as `R.unconfirmed-<serial>`: the live
//! sealing stays the old one, and the new value is never lost (a quorum opens it with stock
//! `age`, docs/manual-unseal.md), whether or not it had been set where it belongs.
//! Which case it is, the serials in the two manifests decide: a rotation's sealing always takes
//! the next serial.

use crate::core::rekey::sync_dir;
use crate::core::seal::{self, Sealed};
use std::path::{Path, PathBuf};
use thiserror::Error;

fn parent(p: &Path) -> &Path {
    p.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn name(runbook: &Path) -> String {
    runbook.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "runbook".into())
}

/// Where a rotation stages the new sealing of `runbook`.
pub fn staged(runbook: &Path) -> PathBuf {
    parent(runbook).join(format!(".{}.breakglass-rotate", name(runbook)))
}

/// Where a drill stages its copy (checked, then removed).
pub fn drill_copy(runbook: &Path) -> PathBuf {
    parent(runbook).join(format!(".{}.breakglass-drill", name(runbook)))
}

/// Where the sealing a rotation replaced is kept.
pub fn superseded(runbook: &Path, serial: u64) -> PathBuf {
    parent(runbook).join(format!("{}.superseded-{serial}", name(runbook)))
}

/// Where an interrupted rotation's new sealing is kept (never live, never deleted).
pub fn unconfirmed(runbook: &Path, serial: u64) -> PathBuf {
    parent(runbook).join(format!("{}.unconfirmed-{serial}", name(runbook)))
}

/// A path is there, whatever it is (a dangling symlink planted where a name is wanted counts).
fn present(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}

/// `base`, or `base-1`, `base-2`, ... : the first name nothing holds.
fn free_name(base: PathBuf) -> PathBuf {
    let mut to = base.clone();
    let mut n = 1;
    while present(&to) {
        to = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    to
}

#[derive(Debug, Error)]
pub enum RotateError {
    #[error("a rotation was interrupted and left {0}: run `breakglass roster settle` (or any ceremony command) first")]
    Pending(PathBuf),
    #[error("{what} {path}: {err}. The live runbook was not changed")]
    Io { what: &'static str, path: PathBuf, err: std::io::Error },
    #[error(transparent)]
    Seal(#[from] seal::SealError),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RotateError + 'a {
    move |err| RotateError::Io { what, path: path.to_path_buf(), err }
}

/// The serial a new sealing of `runbook` takes: above the live one and every sealing kept beside
/// it (superseded, unconfirmed), so that two signed sealings never share a serial.
pub(crate) fn next_serial(runbook: &Path, live: u64) -> u64 {
    let prefix = format!("{}.", name(runbook));
    let kept = std::fs::read_dir(parent(runbook))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().to_string();
                    let rest = n.strip_prefix(&prefix)?;
                    let num = rest.strip_prefix("superseded-").or_else(|| rest.strip_prefix("unconfirmed-"))?;
                    num.split('-').next()?.parse::<u64>().ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    live.max(kept) + 1
}

/// Writes the new sealing (not yet signed) beside the live one; a drill's goes to its copy.
/// Refuses when a rotation is already staged (an interrupted one: [`settle`] first).
pub fn stage(runbook: &Path, sealed: &Sealed, drill: bool) -> Result<PathBuf, RotateError> {
    let dir = if drill { drill_copy(runbook) } else { staged(runbook) };
    if present(&dir) {
        if drill {
            std::fs::remove_dir_all(&dir).map_err(io("cannot remove", &dir))?;
        } else {
            return Err(RotateError::Pending(dir));
        }
    }
    sealed.write_dir(&dir)?;
    sync_dir(parent(runbook)).map_err(io("cannot sync", runbook))?;
    Ok(dir)
}

/// Adds the custodians' signatures on the staged manifest (`MANIFEST.toml.<id>.sig`).
pub(crate) fn add_signatures(dir: &Path, sigs: &crate::core::roster::Signatures) -> Result<(), RotateError> {
    let manifest = dir.join(seal::MANIFEST);
    for (id, sig) in sigs {
        let p = crate::core::roster::sig_path(&manifest, id);
        crate::core::fsread::write_atomic(&p, sig).map_err(io("cannot write", &p))?;
    }
    Ok(())
}

/// The steps of [`commit`]; a test stops after one, as a kill would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The commit point: the live runbook is the new sealing.
    Exchanged,
}

/// What [`commit`] did after its commit point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// The old sealing is kept here.
    Kept(PathBuf),
    /// The new sealing is live, but the old one could not be renamed yet (it stays in staging,
    /// and [`settle`] keeps it as superseded on the next start): why.
    KeptLater(String),
}

/// Swaps the staged sealing in and keeps the old one as superseded. Once the exchange happened
/// (the commit point) it never fails: what is left is [`settle`]'s. `stop_after` ends it early,
/// as a kill at that point would (tests only).
pub fn commit(runbook: &Path, stop_after: Option<Step>) -> Result<Committed, RotateError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    let dir = staged(runbook);
    let real_dir = |p: &Path| p.symlink_metadata().is_ok_and(|m| m.is_dir());
    if !real_dir(&dir) || !real_dir(runbook) {
        return Err(RotateError::Io {
            what: "not a directory (a symlink or a file was put there)",
            path: if real_dir(runbook) { dir } else { runbook.to_path_buf() },
            err: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    }
    renameat_with(CWD, runbook, CWD, &dir, RenameFlags::EXCHANGE).map_err(|e| io("cannot swap in", &dir)(e.into()))?;
    let _ = sync_dir(parent(runbook));
    if stop_after == Some(Step::Exchanged) {
        return Ok(Committed::KeptLater("stopped after the exchange".into()));
    }
    Ok(match keep_superseded(runbook) {
        Ok(p) => Committed::Kept(p),
        Err(e) => Committed::KeptLater(e.to_string()),
    })
}

fn serial_of(dir: &Path) -> Option<u64> {
    crate::core::fsread::read_following(&dir.join(seal::MANIFEST), 1 << 20)
        .ok()
        .and_then(|b| seal::Manifest::parse(&b).ok())
        .map(|m| m.serial)
}

fn keep_superseded(runbook: &Path) -> Result<PathBuf, RotateError> {
    let dir = staged(runbook);
    let old = serial_of(&dir).unwrap_or(0);
    let to = free_name(superseded(runbook, old));
    std::fs::rename(&dir, &to).map_err(io("cannot keep the superseded sealing as", &to))?;
    sync_dir(parent(runbook)).map_err(io("cannot sync", runbook))?;
    Ok(to)
}

/// Sets a staged rotation aside (the new value did not take, or the rotation stopped): the live
/// sealing is unchanged. A real one is kept as `R.unconfirmed-<serial>`, never deleted (its
/// value may have been set where it belongs after all); a drill's copy is removed.
pub(crate) fn discard(runbook: &Path, drill: bool) -> Result<Option<PathBuf>, RotateError> {
    let dir = if drill { drill_copy(runbook) } else { staged(runbook) };
    if !present(&dir) {
        return Ok(None);
    }
    if drill {
        std::fs::remove_dir_all(&dir).map_err(io("cannot remove", &dir))?;
        sync_dir(parent(runbook)).map_err(io("cannot sync", runbook))?;
        return Ok(None);
    }
    let to = free_name(unconfirmed(runbook, serial_of(&dir).unwrap_or(0)));
    std::fs::rename(&dir, &to).map_err(io("cannot keep the unconfirmed sealing as", &to))?;
    sync_dir(parent(runbook)).map_err(io("cannot sync", runbook))?;
    Ok(Some(to))
}

/// What [`settle`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Nothing,
    /// Killed after the commit point: the old sealing is now kept as superseded.
    Finished(PathBuf),
    /// Killed before it: the live sealing is unchanged; the new one is kept aside here.
    KeptAside(PathBuf),
    /// Staging whose serial neither follows nor precedes the live sealing's (put there by hand,
    /// or damaged): moved aside here, unread; the live sealing is unchanged.
    Unclear(PathBuf),
}

/// Finishes or sets aside an interrupted rotation (and removes a drill's copy). Never stops a
/// ceremony from starting: what it cannot place is moved aside, and the live sealing's own
/// signatures are checked when it is opened.
pub fn settle(runbook: &Path) -> Result<Settled, RotateError> {
    discard(runbook, true)?;
    let dir = staged(runbook);
    if !present(&dir) {
        return Ok(Settled::Nothing);
    }
    match (serial_of(&dir), serial_of(runbook)) {
        (Some(s), Some(l)) if s > l => Ok(Settled::KeptAside(discard(runbook, false)?.unwrap_or_default())),
        (Some(s), Some(l)) if s < l => Ok(Settled::Finished(keep_superseded(runbook)?)),
        _ => {
            let to = free_name(PathBuf::from(format!("{}.unclear", dir.display())));
            std::fs::rename(&dir, &to).map_err(io("cannot move aside", &to))?;
            Ok(Settled::Unclear(to))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::roster::Roster;

    fn roster() -> Roster {
        crate::commands::demo::roster()
    }

    fn sealing(text: &str, serial: u64) -> Sealed {
        crate::core::seal::seal_serial(&roster(), text.as_bytes(), serial).unwrap()
    }

    /// A live sealing (serial 1) and a staged rotation (serial 2).
    fn setup() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let live = d.path().join("runbook.sealed");
        sealing("old", 1).write_dir(&live).unwrap();
        stage(&live, &sealing("new", 2), false).unwrap();
        (d, live)
    }

    fn live_serial(live: &Path) -> u64 {
        Sealed::read_dir(live).unwrap().manifest.serial
    }

    #[test]
    fn a_commit_swaps_in_the_new_sealing_and_keeps_the_old_as_superseded() {
        let (_d, live) = setup();
        let kept = commit(&live, None).unwrap();
        assert_eq!(live_serial(&live), 2);
        assert_eq!(kept, Committed::Kept(superseded(&live, 1)));
        let kept = superseded(&live, 1);
        assert_eq!(Sealed::read_dir(&kept).unwrap().manifest.serial, 1);
        assert!(!staged(&live).exists());
    }

    #[test]
    fn a_kill_at_every_step_leaves_exactly_one_live_sealing() {
        // Before the commit point: the old one stays live, the new one is kept aside.
        let (_d, live) = setup();
        assert_eq!(settle(&live).unwrap(), Settled::KeptAside(unconfirmed(&live, 2)));
        assert_eq!(live_serial(&live), 1);
        assert_eq!(Sealed::read_dir(&unconfirmed(&live, 2)).unwrap().manifest.serial, 2);
        // After it: finished.
        let (_d, live) = setup();
        commit(&live, Some(Step::Exchanged)).unwrap();
        assert_eq!(settle(&live).unwrap(), Settled::Finished(superseded(&live, 1)));
        assert_eq!(live_serial(&live), 2);
        // Done: nothing to settle.
        let (_d, live) = setup();
        commit(&live, None).unwrap();
        assert_eq!(settle(&live).unwrap(), Settled::Nothing);
        assert_eq!(live_serial(&live), 2);
    }

    #[test]
    fn a_staged_sealing_with_the_live_serial_is_moved_aside_and_never_blocks_a_ceremony() {
        let d = tempfile::tempdir().unwrap();
        let live = d.path().join("runbook.sealed");
        sealing("old", 1).write_dir(&live).unwrap();
        stage(&live, &sealing("planted", 1), false).unwrap();
        assert!(matches!(settle(&live), Ok(Settled::Unclear(_))));
        assert!(!staged(&live).exists() && live_serial(&live) == 1);
        // An empty planted directory too.
        std::fs::create_dir(staged(&live)).unwrap();
        assert!(matches!(settle(&live), Ok(Settled::Unclear(_))));
        assert!(!staged(&live).exists() && live_serial(&live) == 1);
    }

    #[test]
    fn a_rotation_set_aside_is_kept_and_the_next_takes_a_higher_serial() {
        let (_d, live) = setup();
        assert_eq!(discard(&live, false).unwrap(), Some(unconfirmed(&live, 2)));
        assert_eq!(live_serial(&live), 1);
        assert_eq!(next_serial(&live, 1), 3, "serial 2 is taken by the sealing kept aside");
    }

    #[test]
    fn a_planted_name_never_stops_the_commit_after_its_commit_point() {
        let (_d, live) = setup();
        // A dangling symlink where the superseded sealing goes.
        std::os::unix::fs::symlink("/nonexistent", superseded(&live, 1)).unwrap();
        let c = commit(&live, None).unwrap();
        assert_eq!(c, Committed::Kept(PathBuf::from(format!("{}-1", superseded(&live, 1).display()))));
        assert_eq!(live_serial(&live), 2);
    }

    #[test]
    fn a_symlinked_staging_is_never_swapped_in() {
        let d = tempfile::tempdir().unwrap();
        let live = d.path().join("runbook.sealed");
        sealing("old", 1).write_dir(&live).unwrap();
        let elsewhere = d.path().join("elsewhere");
        sealing("planted", 2).write_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, staged(&live)).unwrap();
        assert!(commit(&live, None).is_err());
        assert_eq!(live_serial(&live), 1);
    }

    #[test]
    fn a_drill_copy_is_never_live_and_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let live = d.path().join("runbook.sealed");
        sealing("old", 1).write_dir(&live).unwrap();
        let copy = stage(&live, &sealing("drill", 2), true).unwrap();
        assert_eq!(copy, drill_copy(&live));
        assert_eq!(settle(&live).unwrap(), Settled::Nothing);
        assert!(!copy.exists() && live_serial(&live) == 1);
    }

    #[test]
    fn a_second_rotation_waits_for_the_first_to_settle() {
        let (_d, live) = setup();
        assert!(matches!(stage(&live, &sealing("again", 3), false), Err(RotateError::Pending(_))));
    }
}
