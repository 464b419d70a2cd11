use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};

use pidfd::{Feature, PidFd};
use pidfd_ns::Namespace;

// The matrix's feature contract, shared by every crate's tests.
#[allow(unused_imports)]
pub(crate) use test_support::require::*;

/// Whether the test may take pidfds of processes: `pidfd_open` (every [`Held`] and
/// `PidFd::from_self` need it). Prints why it skips, as [`require`].
pub(crate) fn can_open_pidfds() -> bool {
    require(Feature::PidfdOpen)
}

/// Whether the test may use [`Held::with_init`]: `pidfd_open` for the init's pidfd and
/// `pidfd_send_signal` to kill it on drop.
pub(crate) fn can_hold_an_init() -> bool {
    require_all(&[Feature::PidfdOpen, Feature::PidfdSendSignal])
}

/// Whether the running kernel has namespaces of kind `ns` (the caller has the file).
pub(crate) fn kernel_has(ns: Namespace) -> bool {
    std::path::Path::new("/proc/self/ns").join(ns.proc_name()).exists()
}

/// Every `CLONE_NEW*` flag of a namespace type the running kernel has.
pub(crate) fn all_new() -> libc::c_int {
    [
        Namespace::Uts,
        Namespace::Net,
        Namespace::Ipc,
        Namespace::Mount,
        Namespace::Cgroup,
        Namespace::Pid,
        Namespace::Time,
        Namespace::User,
    ]
    .into_iter()
    .filter(|&ns| kernel_has(ns))
    .fold(0, |flags, ns| flags | ns.clone_flag())
}

/// What the child does between `unshare` and `exec`.
#[derive(Default)]
pub(crate) struct Setup {
    /// `sethostname` (in a new UTS namespace).
    pub(crate) hostname: Option<&'static str>,
    /// Makes every mount private, then mounts a tmpfs here (in a new mount namespace).
    pub(crate) tmpfs_at: Option<String>,
    /// Runs as this uid/gid (set before `unshare`, by std).
    pub(crate) uid: Option<u32>,
}

/// A `sh -c '<script>'` child that unshared `flags` before exec. The script's first line of
/// output is returned by [`Held::new`]; closing stdin (drop) lets a `read x` in it finish.
///
/// With `CLONE_NEWTIME` the child enters its new time namespace itself before exec (`setns`
/// to its own `time_for_children`): `exec` moves a process there only from 6.2 on ("fs/exec:
/// switch timens when a task gets a new mm"), and the child must live in it on every kernel.
pub(crate) struct Held {
    pub(crate) child: Child,
    pub(crate) fd: PidFd,
    pub(crate) pid: i32,
    pub(crate) first_line: String,
    /// A process the shell started in its new PID namespace (its init), killed on drop.
    pub(crate) init: Option<(PidFd, i32)>,
    stdin: Option<ChildStdin>,
}

impl Held {
    pub(crate) fn new(flags: libc::c_int, setup: Setup, script: &str) -> std::io::Result<Held> {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped());
        if let Some(uid) = setup.uid {
            cmd.uid(uid).gid(uid);
        }
        let hostname = setup.hostname.map(|h| CString::new(h).unwrap());
        let tmpfs = setup.tmpfs_at.map(|p| CString::new(p).unwrap());
        let hook = move || -> std::io::Result<()> {
            let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
            // SAFETY: only async-signal-safe system calls (unshare, open, setns, close,
            // sethostname, mount) on pointers prepared before the fork or static.
            unsafe {
                check(libc::unshare(flags))?;
                if flags & pidfd_sys::CLONE_NEWTIME != 0 {
                    let fd = libc::open(c"/proc/self/ns/time_for_children".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let r = libc::setns(fd, pidfd_sys::CLONE_NEWTIME);
                    let e = std::io::Error::last_os_error();
                    libc::close(fd);
                    if r != 0 {
                        return Err(e);
                    }
                }
                if let Some(h) = &hostname {
                    check(libc::sethostname(h.as_ptr(), h.as_bytes().len()))?;
                }
                if let Some(dir) = &tmpfs {
                    check(libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ))?;
                    check(libc::mount(c"pidfd-ns".as_ptr(), dir.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null()))?;
                }
            }
            Ok(())
        };
        // SAFETY: the hook makes only async-signal-safe calls and allocates nothing on success.
        unsafe { cmd.pre_exec(hook) };
        let mut child = cmd.spawn()?;
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first_line)?;
        if first_line.is_empty() {
            let status = child.wait()?;
            return Err(std::io::Error::other(format!("the child failed before its first line: {status}")));
        }
        let fd = PidFd::from_child(&child).map_err(std::io::Error::from)?;
        let pid = child.id() as i32;
        let stdin = child.stdin.take();
        Ok(Held { child, fd, pid, first_line: first_line.trim().to_owned(), init: None, stdin })
    }

    /// Like [`Held::waiting`], and the shell starts a `sleep` that becomes the init of the PID
    /// namespace it unshared (`flags` must have `CLONE_NEWPID`); `init` has its pidfd and pid.
    /// The init is killed through its pidfd on drop: a test using this needs
    /// [`can_hold_an_init`].
    pub(crate) fn with_init(flags: libc::c_int, setup: Setup) -> Held {
        let mut held = Held::new(flags, setup, "sleep 1000 >/dev/null 2>&1 & echo $!; read x")
            .expect("spawn a child in new namespaces");
        let pid: i32 = held.first_line.parse().unwrap();
        held.init = Some((PidFd::open(pid).unwrap(), pid));
        held
    }

    /// `sh -c 'echo ready; read x'` in new namespaces `flags`.
    pub(crate) fn waiting(flags: libc::c_int, setup: Setup) -> Held {
        Held::new(flags, setup, "echo ready; read x").expect("spawn a child in new namespaces")
    }

    /// Lets the shell's `read` finish.
    pub(crate) fn release(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"\n");
        }
    }

    /// Waits until the child is a zombie (exited, not reaped).
    pub(crate) fn wait_zombie(&mut self) {
        self.release();
        for _ in 0..1000 {
            if state(self.pid) == Some('Z') {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("pid {} did not become a zombie", self.pid);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((init, _)) = &self.init {
            // An init ignores every signal but SIGKILL from outside its namespace.
            let _ = init.kill();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The state letter of `/proc/<pid>/stat`.
pub(crate) fn state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(") ")?.1.chars().next()
}

/// The inode of `/proc/<pid>/ns/<name>` (what readlink shows), if the kernel has the file.
pub(crate) fn proc_ino(pid: i32, ns: Namespace) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/{}", ns.proc_name())).ok().map(|m| m.ino())
}

/// The calling thread's namespace inode of kind `ns`.
pub(crate) fn thread_ino(ns: Namespace) -> u64 {
    std::fs::metadata(format!("/proc/thread-self/ns/{}", ns.proc_name())).unwrap().ino()
}

/// Every namespace inode of the calling thread (`None` for kinds the kernel lacks).
pub(crate) fn thread_inos() -> Vec<(Namespace, Option<u64>)> {
    Namespace::ALL
        .iter()
        .map(|&ns| (ns, std::fs::metadata(format!("/proc/thread-self/ns/{}", ns.proc_name())).ok().map(|m| m.ino())))
        .collect()
}

/// The `NSpid:` line of `/proc/<pid>/status`: the pid in each PID namespace it is visible in,
/// from the procfs's own namespace down to the process's own.
pub(crate) fn nspid(pid: i32) -> Vec<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:")).expect("NSpid: (4.1+)");
    line.split_whitespace().map(|n| n.parse().unwrap()).collect()
}

/// The kernel's own answer to an nsfs ioctl that writes a `__u64` (`NS_GET_ID`,
/// `NS_GET_MNTNS_ID`), asked directly rather than through `pidfd-ns`: `None` when the kernel
/// answers `ENOTTY` (it does not have that ioctl).
pub(crate) fn raw_ns_u64(fd: &impl std::os::fd::AsRawFd, cmd: u32) -> Option<u64> {
    let mut v: u64 = 0;
    // SAFETY: the command writes one __u64 through the pointer, which points at `v`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), cmd as _, &mut v as *mut u64) };
    if r == 0 {
        return Some(v);
    }
    let e = std::io::Error::last_os_error();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTTY), "raw ioctl {cmd:#x}: {e}");
    None
}

/// The calling thread's hostname, as its UTS namespace says.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned()
}

/// The interface names of the calling thread's network namespace.
pub(crate) fn interfaces() -> Vec<String> {
    let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
    dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(|s| s.trim().to_owned()).collect()
}
