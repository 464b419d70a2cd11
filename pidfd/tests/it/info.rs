use std::os::unix::fs::MetadataExt;

use pidfd::{Error, Feature, PidFd};

use crate::support::{held, require, require_all, self_pidfd, status_field};

#[test]
fn getters_match_proc() {
    let Some((mut h, fd)) = held("exit 0") else { return };
    assert_eq!(fd.pid().unwrap(), h.pid);
    assert_eq!(fd.ppid().unwrap() as u32, status_field(h.pid, "PPid:")[0]);
    assert_eq!(fd.ppid().unwrap() as u32, std::process::id());
    let c = fd.credentials().unwrap();
    let uid = status_field(h.pid, "Uid:");
    let gid = status_field(h.pid, "Gid:");
    assert_eq!([c.ruid, c.euid, c.suid, c.fsuid], [uid[0], uid[1], uid[2], uid[3]]);
    assert_eq!([c.rgid, c.egid, c.sgid, c.fsgid], [gid[0], gid[1], gid[2], gid[3]]);
    h.release();
    fd.wait().unwrap();
}

/// The cgroup2 mount point, read from mountinfo by the test itself (an independent witness).
pub(crate) fn cgroup2_root() -> Option<String> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines().find_map(|l| {
        let (head, tail) = l.split_once(" - ")?;
        let f: Vec<&str> = head.split(' ').collect();
        (tail.starts_with("cgroup2 ") && f.get(3) == Some(&"/")).then(|| f[4].to_owned())
    })
}

#[test]
fn cgroup_id_is_the_cgroup_directory_inode() {
    let Some((mut h, fd)) = held("exit 0") else { return };
    let Some(root) = cgroup2_root() else {
        eprintln!("skipped: no cgroup2 mount on this host");
        return;
    };
    // A fresh cgroup, so the id is not the root's 1.
    let dir = format!("{root}/pidfd-it-{}", std::process::id());
    if let Err(e) = std::fs::create_dir(&dir) {
        eprintln!("skipped: cannot create a cgroup here: {e}");
        return;
    }
    std::fs::write(format!("{dir}/cgroup.procs"), h.pid.to_string()).unwrap();
    let ino = std::fs::metadata(&dir).unwrap().ino();
    assert_ne!(ino, 1);
    let id = fd.cgroup_id().unwrap();
    // The id is the kernfs node id. A 64-bit kernel's inode number is all of it; a 32-bit
    // kernel's only its low half (the high half is the node's generation, not in `st_ino`).
    if cfg!(target_pointer_width = "64") {
        assert_eq!(id, ino);
    } else {
        assert_eq!(id & 0xffff_ffff, ino & 0xffff_ffff, "id {id:#x}, inode {ino:#x}");
    }
    h.release();
    fd.wait().unwrap();
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn info_reports_what_the_kernel_returned() {
    let Some((mut h, fd)) = held("exit 7") else { return };
    if !require(Feature::GetInfo) {
        assert!(matches!(fd.info(), Err(Error::Unsupported { feature: Feature::GetInfo })));
        return;
    }
    let info = fd.info().unwrap();
    assert_eq!(info.pid(), Some(h.pid));
    assert_eq!(info.tgid(), Some(h.pid));
    assert_eq!(info.ppid(), Some(std::process::id() as i32));
    assert_eq!(info.credentials(), Some(fd.credentials().unwrap()));
    assert_eq!(info.exit_status(), None, "a running process has no exit status");
    assert_eq!(info.coredump().is_some(), Feature::InfoCoredump.is_supported());
    assert_eq!(info.supported_mask().is_some(), Feature::SupportedMask.is_supported());
    if let Some(m) = info.supported_mask() {
        assert_eq!(m & 0x7, 0x7, "the supported mask always has PID|CREDS|CGROUPID");
    }
    h.release();
    // Reap through std this time: the pidfd learns the status from the kernel.
    let st = h.child.wait().unwrap();
    assert_eq!(st.code(), Some(7));
    if Feature::InfoExit.is_supported() {
        let after = fd.info().unwrap();
        assert_eq!(after.pid(), None);
        assert_eq!(after.exit_status().and_then(|s| s.code()), Some(7));
    } else {
        assert!(matches!(fd.info(), Err(Error::Exited)));
    }
    assert!(matches!(fd.pid(), Err(Error::Exited)));
}

#[test]
fn access_proc_only_answers_for_the_same_process() {
    let Some((mut h, fd)) = held("exit 0") else { return };
    let stat = fd.access_proc(|d| d.read_to_string("stat").unwrap()).unwrap();
    assert!(stat.starts_with(&format!("{} (", h.pid)));
    assert_eq!(fd.access_proc(|d| d.pid()).unwrap(), h.pid);
    h.release();
    fd.wait().unwrap();
    assert!(matches!(fd.access_proc(|_| ()), Err(Error::Exited)));
}

#[test]
fn exit_status_of_a_process_that_is_not_our_child() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    // A grandchild: sh starts `sleep`, prints its pid and reaps it itself.
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "sleep 0.3 & echo $!; wait"]).stdout(std::process::Stdio::piped());
    let (mut child, _) = pidfd::spawn(&mut cmd).unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let grandchild = PidFd::open(line.trim().parse().unwrap()).unwrap();
    assert!(matches!(grandchild.wait(), Err(Error::NotChild)));
    if !require(Feature::InfoExit) {
        assert!(matches!(grandchild.exit_status(), Err(Error::Unsupported { feature: Feature::InfoExit })));
        child.wait().unwrap();
        return;
    }
    assert_eq!(grandchild.exit_status().unwrap(), None);
    child.wait().unwrap();
    let st = grandchild.exit_status().unwrap().expect("reaped by sh");
    assert_eq!(st.code(), Some(0));
}

#[test]
fn get_fd_duplicates_a_remote_fd() {
    let Some((mut h, fd)) = held("exit 0") else { return };
    if !require(Feature::PidfdGetfd) {
        return;
    }
    let remote = match fd.get_fd(0) {
        Err(Error::PermissionDenied { .. }) => {
            eprintln!("skipped: no ptrace access here");
            return;
        }
        r => r.unwrap(),
    };
    let remote = std::fs::File::from(remote).metadata().unwrap();
    let ours = std::fs::metadata(format!("/proc/{}/fd/0", h.pid)).unwrap();
    assert_eq!(remote.ino(), ours.ino());
    assert!(matches!(fd.get_fd(-1), Err(Error::InvalidInput(_))));
    assert!(matches!(fd.get_fd(4000), Err(Error::InvalidInput(_))));
    h.release();
    fd.wait().unwrap();
    assert!(matches!(fd.get_fd(0), Err(Error::Exited)));
}

#[test]
fn memory_calls() {
    let Some(me) = self_pidfd() else { return };
    if require(Feature::ProcessMadvise) {
        let page = vec![1u8; 1 << 16];
        let addr = page.as_ptr() as usize & !4095;
        let r = me.process_madvise(&[pidfd::MemoryRange { addr, len: 4096 }], pidfd::Advice::Cold);
        match r {
            Ok(n) => assert_eq!(n, 4096),
            Err(Error::PermissionDenied { .. }) => eprintln!("process_madvise refused here"),
            Err(e) => panic!("{e}"),
        }
        drop(page);
    }
    if require_all(&[Feature::ProcessMrelease, Feature::PidfdSendSignal]) {
        let Some((h, fd)) = held("exit 0") else { return };
        let e = fd.process_mrelease().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "a live process is not dying: {e}");
        fd.kill().unwrap();
        let _ = fd.process_mrelease();
        fd.wait().unwrap();
        assert!(matches!(fd.process_mrelease(), Err(Error::Exited)));
        drop(h);
    }
}
