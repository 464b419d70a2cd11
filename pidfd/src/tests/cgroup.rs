//! The `/proc/<pid>/cgroup` fallback of `cgroup_id` against real cgroups: a zombie whose cgroup
//! was removed (the kernel appends ` (deleted)` to the path), and a live cgroup whose name really
//! ends in ` (deleted)`.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use super::{TempCgroup, held, release, without};
use crate::{Error, Feature};

/// A live cgroup named `<base's name> (deleted)`, next to `base`: what the old parser took for the
/// removed cgroup of a zombie.
fn decoy_of(base: &TempCgroup) -> Option<TempCgroup> {
    let mut name = base.0.file_name()?.to_os_string();
    name.push(" (deleted)");
    let dir: PathBuf = base.0.with_file_name(name);
    std::fs::create_dir(&dir).ok()?;
    Some(TempCgroup(dir))
}

/// The v2 line of `/proc/<pid>/cgroup`, as read.
fn v2_line(pid: i32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines().find(|l| l.starts_with("0::")).unwrap_or_default().to_owned()
}

/// Child in a temporary cgroup, child exits (a zombie: nobody reaps it), the cgroup is removed
/// (a cgroup holding only zombies can be removed on cgroup2): the `/proc` fallback answers
/// `Exited`, never the id of a path with ` (deleted)`, even where a live cgroup of that very
/// name exists.
#[test]
fn removed_cgroup_of_a_zombie_is_exited() {
    let Some(tmp) = TempCgroup::new("removed") else {
        eprintln!("skipped: cannot create a cgroup here (cgroup2 not mounted or not writable)");
        return;
    };
    let Some(decoy) = decoy_of(&tmp) else {
        eprintln!("skipped: cannot create a second cgroup here");
        return;
    };
    let Some((mut child, fd, pid)) = held("exit 0") else { return };
    tmp.add(pid);
    release(&mut child);
    // Readable: it has exited; not reaped, so a zombie still in the cgroup.
    assert!(crate::sys::poll_readable(fd.as_raw_fd(), 10_000).unwrap(), "the child did not exit");
    let want = format!("0::/{}", tmp.0.file_name().unwrap().to_str().unwrap());
    assert_eq!(v2_line(pid), want, "the zombie still shows its cgroup");
    if let Err(e) = std::fs::remove_dir(&tmp.0) {
        eprintln!("skipped: cannot remove a cgroup holding only a zombie here: {e}");
        fd.wait().unwrap();
        return;
    }
    assert_eq!(v2_line(pid), format!("{want} (deleted)"), "the kernel marks the removed cgroup");
    {
        let _g = without(Feature::GetInfo);
        let got = fd.cgroup_id();
        assert!(matches!(got, Err(Error::Exited)), "{got:?} (the decoy {} has id {})", decoy.0.display(), decoy.id());
        // No decoy: the same answer.
        drop(decoy);
        let got = fd.cgroup_id();
        assert!(matches!(got, Err(Error::Exited)), "{got:?}");
    }
    assert_eq!(fd.wait().unwrap().code(), Some(0));
    let _g = without(Feature::GetInfo);
    assert!(matches!(fd.cgroup_id(), Err(Error::Exited)));
}

/// A live process in a live cgroup whose name ends in ` (deleted)` (the kernel writes the same
/// line as for a removed cgroup `<name>`): the fallback finds the process listed in that
/// directory and answers its id.
#[test]
fn live_cgroup_named_deleted_is_resolved() {
    let Some(base) = TempCgroup::new("named") else {
        eprintln!("skipped: cannot create a cgroup here (cgroup2 not mounted or not writable)");
        return;
    };
    let Some(named) = decoy_of(&base) else {
        eprintln!("skipped: cannot create a second cgroup here");
        return;
    };
    let Some((mut child, fd, pid)) = held("exit 0") else { return };
    named.add(pid);
    assert!(v2_line(pid).ends_with(" (deleted)"));
    {
        let _g = without(Feature::GetInfo);
        assert_eq!(fd.cgroup_id().unwrap(), named.id());
    }
    if let Ok(k) = fd.cgroup_id() {
        assert_eq!(k, named.id(), "the ioctl agrees");
    }
    release(&mut child);
    assert_eq!(fd.wait().unwrap().code(), Some(0));
}
