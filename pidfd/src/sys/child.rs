//! The child side of `pidfd::Command`: what runs between clone (or fork) and `execve`.
//!
//! In the vfork paths it runs on its own stack while sharing the parent's memory, the parent
//! suspended until the exec; in the fork-like paths it runs in a copy of a process whose other
//! threads may have held any lock at the instant of the clone. So it makes only the raw system
//! calls of [`super::raw`], on data the parent prepared in a [`ChildPlan`]: no allocation, no
//! lock, no glibc function, no panic. (`cargo xtask ci`, step `tidy`, checks that this file
//! calls no `libc::` function but `libc::syscall`, and none but through `raw`.)

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use super::raw::{self, KernelSigset};

/// A caller's `pre_exec` hook (`Command::pre_exec`): runs in the child, fork-like paths only.
pub(crate) type Hook = Box<dyn FnMut() -> std::io::Result<()> + Send + Sync>;

/// Everything the child needs, prepared by the parent.
pub(crate) struct ChildPlan {
    /// Paths to try with execve, in order (PATH lookup done by the parent).
    pub(crate) candidates: Vec<std::ffi::CString>,
    /// NULL-terminated argv pointing into CStrings the caller keeps alive.
    pub(crate) argv: Vec<*const libc::c_char>,
    /// NULL-terminated envp pointing into CStrings the caller keeps alive.
    pub(crate) envp: Vec<*const libc::c_char>,
    pub(crate) cwd: Option<std::ffi::CString>,
    /// `(source, target)`: the child gets `source` at `target`.
    pub(crate) fd_map: Vec<(RawFd, RawFd)>,
    /// The standard streams the child connects to `/dev/null`, which it opens itself (read-only
    /// for stdin, write-only for stdout and stderr) once it has its own fd table: no fd of the
    /// parent is involved, so the table it copies stays 0-2.
    pub(crate) null: [bool; 3],
    pub(crate) setsid: bool,
    pub(crate) pgroup: Option<i32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) groups: Option<Vec<libc::gid_t>>,
    /// Signals to block in the child; `None`: the parent thread's mask.
    pub(crate) sigmask: Option<Vec<i32>>,
    /// Reset every disposition to the default (else only caught signals, and SIGPIPE).
    pub(crate) reset_all_signals: bool,
    /// An open `cgroup.procs` to write "0" to (the fallback of CLONE_INTO_CGROUP).
    pub(crate) cgroup_procs: Option<RawFd>,
    /// The caller's `pre_exec` hooks, in the parent's `Command` (borrowed for the spawn); set
    /// only on a fork-like path, where the child has a copy of our memory to run them in.
    pub(crate) hooks: Option<*mut [Hook]>,
    /// Filled in by [`ChildPlan::finish`] for the chosen creation path.
    pub(super) path: PathPlan,
    /// The errno of the failed step, written by a vfork child (shared memory).
    pub(super) err: AtomicI32,
    /// Where the kernel writes the child's pidfd (`CLONE_PIDFD`); a vfork child reads it in
    /// our shared memory to see whether the kernel honoured the flag.
    pub(super) pidfd: AtomicI32,
}

/// What [`ChildPlan::finish`] derives for one spawn (no allocation after it).
#[derive(Default)]
pub(super) struct PathPlan {
    /// Where a fork-like child reports (seqpacket socket): its errno, and EOF once exec'd.
    pub(super) report: Option<RawFd>,
    /// The fork-like paths: wait for the parent's go (one byte on `report`) before anything
    /// else, so the parent can open or check the pidfd of a child that cannot have exited yet.
    pub(super) await_go: bool,
    /// The parent's end of the report socket, which the child's copy of the fd table holds
    /// too: closed first, so the child sees EOF when the parent gives up.
    pub(super) parent_end: Option<RawFd>,
    /// The child shares the parent's fd table (CLONE_FILES) and must unshare it first.
    pub(super) files_shared: bool,
    /// The kernel was asked for a pidfd through shared memory: the child checks it got one.
    pub(super) expect_pidfd: bool,
    /// The kernel already reset every caught signal to the default (`CLONE_CLEAR_SIGHAND`).
    pub(super) handlers_cleared: bool,
    /// The mask the child execs with: the parent thread's, or the one asked for.
    pub(super) mask: KernelSigset,
    /// Every fd below this is copied when the child unshares its fd table; all fds the child
    /// needs are below it. Sources are lifted to `lift_base + i`, the report fd just above
    /// (with `mark_only`: to free numbers from here up).
    pub(super) lift_base: RawFd,
    /// The fds that survive the close step (sorted): targets from 3 up and the lifted report
    /// (with `mark_only`: the targets; the report is close-on-exec anyway).
    pub(super) keep: Vec<RawFd>,
    /// Do not use `close_range` in the child (the fault seam: kernels before 5.9).
    pub(super) no_close_range: bool,
    /// `Command::exec`: the steps run in this very process, which keeps its fd table (a
    /// failed exec leaves every fd someone owns open; see `mark_only`).
    pub(super) in_place: bool,
    /// The fd table holds fds someone else uses until the exec: `Command::exec` (`in_place`),
    /// and a child with `pre_exec` hooks, which see the parent's fds as std's do. Sources and
    /// the report are lifted to free numbers only (`F_DUPFD_CLOEXEC`), never onto one of
    /// those fds, and the fds not kept are marked close-on-exec rather than closed.
    pub(super) mark_only: bool,
    /// Where each source was lifted (`mark_only` only), written by the steps.
    pub(super) lifted: Box<[AtomicI32]>,
}

impl ChildPlan {
    pub(crate) fn new() -> ChildPlan {
        ChildPlan {
            candidates: Vec::new(),
            argv: Vec::new(),
            envp: Vec::new(),
            cwd: None,
            fd_map: Vec::new(),
            null: [false; 3],
            setsid: false,
            pgroup: None,
            uid: None,
            gid: None,
            groups: None,
            sigmask: None,
            reset_all_signals: false,
            cgroup_procs: None,
            hooks: None,
            path: PathPlan::default(),
            err: AtomicI32::new(0),
            pidfd: AtomicI32::new(-1),
        }
    }

    /// Whether the child changes its credentials, which makes the kernel mark its memory
    /// non-dumpable (`commit_creds`): it must not share ours.
    pub(crate) fn changes_credentials(&self) -> bool {
        self.uid.is_some() || self.gid.is_some() || self.groups.is_some()
    }

    /// Whether the child must have its own memory: it changes its credentials (see
    /// [`ChildPlan::changes_credentials`]) or runs the caller's hooks, which may touch any memory.
    pub(crate) fn needs_own_memory(&self) -> bool {
        self.changes_credentials() || self.hooks.is_some()
    }

    /// Derives what the child needs for this path, with `parent_mask` the spawning thread's
    /// signal mask from before it blocked every signal. All allocation happens here.
    pub(super) fn finish(&mut self, path: PathPlan, parent_mask: KernelSigset) {
        self.path = path;
        let mut hi = 2;
        for &(s, t) in &self.fd_map {
            hi = hi.max(s).max(t);
        }
        for fd in [self.cgroup_procs, self.path.report].into_iter().flatten() {
            hi = hi.max(fd);
        }
        // Saturating: a target near i32::MAX is refused by the child's dup3 (EBADF), not by an
        // overflow here.
        self.path.lift_base = hi.saturating_add(1);
        self.path.mark_only = self.path.in_place || self.hooks.is_some();
        let mut keep: Vec<RawFd> = self.fd_map.iter().map(|&(_, t)| t).filter(|&t| t >= 3).collect();
        if self.path.report.is_some() && !self.path.mark_only {
            keep.push(self.lifted_report());
        }
        keep.sort_unstable();
        self.path.keep = keep;
        self.path.no_close_range = super::fault::check(super::Call::CloseRange).is_err();
        if self.path.mark_only {
            self.path.lifted = self.fd_map.iter().map(|_| AtomicI32::new(-1)).collect();
        }
        self.path.mask = match &self.sigmask {
            Some(sigs) => {
                let mut set = [0; size_of::<KernelSigset>() / 8];
                for &s in sigs {
                    raw::sigset_add(&mut set, s);
                }
                set
            }
            None => parent_mask,
        };
        self.err.store(0, Ordering::SeqCst);
        self.pidfd.store(-1, Ordering::SeqCst);
    }

    /// Where the report fd is lifted to: above every lifted source.
    fn lifted_report(&self) -> RawFd {
        self.path.lift_base.saturating_add(self.fd_map.len() as RawFd)
    }
}

const CLOSE_RANGE_UNSHARE: u32 = 2;
const CLOSE_RANGE_CLOEXEC: u32 = 4;

/// One more than the highest signal number (`_NSIG + 1`): 64 signals, 128 on MIPS.
const NSIG: i32 = size_of::<KernelSigset>() as i32 * 8 + 1;

/// The child side. Returns the errno of the step that failed (execve only returns on failure),
/// after writing it to the report socket of a fork-like child.
///
/// # Safety
/// Must run in a freshly created child (vfork or fork-like) of a process whose `plan` is
/// valid, with every signal blocked; or, for `Command::exec` (`plan.path.in_place`), in the
/// process itself, with every signal of the calling thread blocked.
pub(super) unsafe fn child_exec(plan: &ChildPlan) -> i32 {
    let mut report = plan.path.report.unwrap_or(-1);
    // SAFETY: same contract as ours.
    let e = match unsafe { child_steps(plan, &mut report) } {
        Err(e) => e,
        Ok(never) => match never {},
    };
    if report >= 0 {
        let bytes = e.to_ne_bytes();
        // SAFETY: writing 4 bytes from a local array to our report socket.
        let _ = unsafe { raw::write(report, bytes.as_ptr(), bytes.len()) };
    }
    e
}

/// The steps of [`child_exec`]; `report` follows the report fd when it is moved.
///
/// # Safety
/// As [`child_exec`].
unsafe fn child_steps(plan: &ChildPlan, report: &mut RawFd) -> Result<std::convert::Infallible, i32> {
    let path = &plan.path;
    if let Some(fd) = path.parent_end {
        // SAFETY: our copy of the parent's end, which nothing in the child uses.
        unsafe { raw::close(fd) };
    }
    if path.await_go {
        // The parent opens our pidfd while we wait here, alive; EOF: it gave up.
        let mut go = [0u8; 1];
        // SAFETY: a one-byte local buffer.
        if unsafe { raw::read(*report, go.as_mut_ptr(), 1) }? != 1 {
            return Err(libc::ECANCELED);
        }
    }
    if path.expect_pidfd && plan.pidfd.load(Ordering::SeqCst) < 0 {
        // The kernel ignored CLONE_PIDFD (before 5.2): the program must not run, for nothing
        // would name it for certain; the parent falls back to another path.
        return Err(libc::ENOSYS);
    }
    if path.files_shared {
        // Our own fd table holding only the fds below lift_base (5.9), else a full copy.
        // SAFETY: affects only our own (shared, then private) table.
        let unshared =
            !path.no_close_range && unsafe { raw::close_range(path.lift_base as u32, !0, CLOSE_RANGE_UNSHARE) }.is_ok();
        if !unshared {
            // SAFETY: plain flag.
            unsafe { raw::unshare(libc::CLONE_FILES) }?;
        }
    }
    // Signal dispositions: a handler of the parent must never run in the child.
    if plan.reset_all_signals {
        for sig in (1..NSIG).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP) {
            // The raw call also reaches the signals libc reserves for itself (32, 33).
            raw::sig_default(sig);
        }
    } else if path.handlers_cleared {
        // CLONE_CLEAR_SIGHAND reset every caught signal; ignored ones stay ignored, except
        // SIGPIPE (which Rust's runtime ignores), as std does.
        raw::sig_default(libc::SIGPIPE);
    } else {
        for sig in (1..NSIG).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP) {
            if sig == libc::SIGPIPE || raw::sig_caught(sig) {
                raw::sig_default(sig);
            }
        }
    }
    if plan.setsid {
        raw::setsid()?;
    }
    if let Some(pg) = plan.pgroup {
        raw::setpgid_self(pg)?;
    }
    if let Some(fd) = plan.cgroup_procs {
        // SAFETY: one byte from a static string.
        if unsafe { raw::write(fd, b"0".as_ptr(), 1) }? != 1 {
            return Err(libc::EIO);
        }
    }
    // fds: first lift every source (and the report fd) to numbers above all sources and
    // targets, so no dup can clobber a source; then place them. dup3 without O_CLOEXEC clears
    // close-on-exec on the target.
    let lift = |from: RawFd, to: RawFd| {
        // SAFETY: fds of our own table; `to` is above every fd the plan names.
        unsafe { raw::dup3(from, to, libc::O_CLOEXEC) }
    };
    if *report >= 0 {
        *report = if path.mark_only {
            // SAFETY: an fd of our own table, to the lowest free number from `lift_base`.
            unsafe { raw::dupfd_cloexec(*report, path.lift_base) }?
        } else {
            let to = plan.lifted_report();
            lift(*report, to)?;
            to
        };
    }
    for (i, &(src, _)) in plan.fd_map.iter().enumerate() {
        if path.mark_only {
            // A table others use until the exec: the lowest free number above the plan's
            // fds, never a number someone else owns.
            // SAFETY: fds of our own table.
            let fd = unsafe { raw::dupfd_cloexec(src, path.lift_base) }?;
            path.lifted[i].store(fd, Ordering::Relaxed);
        } else {
            lift(src, path.lift_base.saturating_add(i as RawFd))?;
        }
    }
    for (i, &(_, dst)) in plan.fd_map.iter().enumerate() {
        let tmp = if path.mark_only { path.lifted[i].load(Ordering::Relaxed) } else { path.lift_base + i as RawFd };
        // SAFETY: fds of our own table.
        unsafe {
            raw::dup3(tmp, dst, 0)?;
            raw::close(tmp);
        }
        if path.mark_only {
            path.lifted[i].store(-1, Ordering::Relaxed);
        }
    }
    // Null streams: /dev/null opened here, read-only for stdin, write-only for the others.
    if plan.null[0] {
        null_onto(libc::O_RDONLY, &[0])?;
    }
    match (plan.null[1], plan.null[2]) {
        (true, true) => null_onto(libc::O_WRONLY, &[1, 2])?,
        (true, false) => null_onto(libc::O_WRONLY, &[1])?,
        (false, true) => null_onto(libc::O_WRONLY, &[2])?,
        (false, false) => {}
    }
    // Only 0-2 and the mapped targets reach the program (the report fd, close-on-exec, stays
    // until the exec): sources, pipes of other children and every fd without close-on-exec
    // are closed, on every path. In place (`exec`), and before `pre_exec` hooks, they are marked close-on-exec
    // instead, so the exec closes them: the hooks see the parent's fds, as std's do (an fd a
    // hook makes without close-on-exec, a `dup2` onto 3 say, is the program's).
    close_all_but(&path.keep, path.no_close_range, path.mark_only)?;
    if let Some(groups) = &plan.groups {
        // SAFETY: `groups` is a live Vec of the plan.
        unsafe { raw::setgroups(groups.as_ptr(), groups.len()) }?;
    } else if plan.uid.is_some() {
        // Like std: dropping to another user drops the supplementary groups where allowed.
        // SAFETY: an empty list.
        let _ = unsafe { raw::setgroups(std::ptr::null(), 0) };
    }
    if let Some(g) = plan.gid {
        raw::setresgid(g)?;
    }
    if let Some(u) = plan.uid {
        raw::setresuid(u)?;
    }
    if let Some(dir) = &plan.cwd {
        // SAFETY: a CString of the plan.
        unsafe { raw::chdir(dir.as_ptr()) }?;
    }
    // SAFETY: a kernel sigset of the plan.
    unsafe { raw::sigprocmask(libc::SIG_SETMASK, &path.mask, std::ptr::null_mut()) }?;
    if let Some(hooks) = plan.hooks {
        // The caller's `pre_exec` hooks, last before the exec, as std runs them. The one
        // exception to this file's rule, and the caller's promise (`pre_exec` is unsafe): we
        // are on a fork-like path (the spawn chose it for the hooks), so this is our own copy
        // of the parent's memory, whatever the hooks touch.
        // SAFETY: the hooks of the parent's `Command`, borrowed mutably for the spawn and
        // copied into our memory by the clone; nothing else uses them here.
        for hook in unsafe { &mut *hooks } {
            if let Err(e) = hook() {
                let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
                // Not dropped: a custom error would free memory, and an allocator lock another
                // thread held at the clone may still be held here (a raw clone runs no atfork
                // handler). The child exits right after reporting.
                std::mem::forget(e);
                return Err(errno);
            }
        }
    }
    let mut result = libc::ENOENT;
    let mut saw_eacces = false;
    for candidate in &plan.candidates {
        // SAFETY: CStrings and NULL-terminated pointer arrays the parent keeps alive.
        match unsafe { raw::execve(candidate.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr()) } {
            libc::EACCES => saw_eacces = true,
            e @ (libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG | libc::ESTALE) => result = e,
            e => {
                result = e;
                saw_eacces = false;
                break;
            }
        }
    }
    Err(if saw_eacces { libc::EACCES } else { result })
}

/// Opens `/dev/null` with `mode` and puts it at each of `targets` (standard stream numbers), in
/// the child. The fd is opened without close-on-exec, since it may itself land on a target (the
/// lowest free number, when a standard stream is closed); otherwise it is closed after the
/// dups. Returns the errno of a failed step.
fn null_onto(mode: libc::c_int, targets: &[RawFd]) -> Result<(), i32> {
    // SAFETY: a NUL-terminated literal path; the fd is ours.
    let fd = unsafe { raw::open(c"/dev/null".as_ptr(), mode) }?;
    for &t in targets.iter().filter(|&&t| t != fd) {
        // SAFETY: duplicating our own fd onto a number of our own table (`t != fd`).
        unsafe { raw::dup3(fd, t, 0) }?;
    }
    if !targets.contains(&fd) {
        // SAFETY: closing the fd opened above.
        unsafe { raw::close(fd) };
    }
    Ok(())
}

/// Closes every fd from 3 up except those in `keep` (sorted), in a child with its own fd
/// table: one `close_range` per gap between kept fds (5.9), so the cost does not grow with
/// the number of fds the parent holds. Without `close_range`: the numbers listed in
/// `/proc/self/fd`, read with `getdents64` into a stack buffer. Without `/proc` either: every
/// number below the larger of the `RLIMIT_NOFILE` limits (no fd at or above the hard limit can
/// exist unless the process lowered its own hard limit below an fd it held; SECURITY.md).
/// `mark_only` (`Command::exec`): marks them close-on-exec instead (`CLOSE_RANGE_CLOEXEC`,
/// 5.11, else `F_SETFD`), so the exec closes them and a failed exec leaves them open.
fn close_all_but(keep: &[RawFd], no_close_range: bool, mark_only: bool) -> Result<(), i32> {
    if !no_close_range && close_gaps(keep, mark_only).is_ok() {
        return Ok(());
    }
    let close = |fd: RawFd| {
        if mark_only {
            // SAFETY: an fd of our own table (EBADF for numbers not open).
            unsafe { raw::set_cloexec(fd) }
        } else {
            // SAFETY: closing an fd of our own table (EBADF for numbers not open).
            unsafe { raw::close(fd) }
        }
    };
    let kept = |fd: RawFd| fd < 3 || keep.binary_search(&fd).is_ok();
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: NUL-terminated literal path; the fd is ours.
    let dir = unsafe { raw::open(c"/proc/self/fd".as_ptr(), flags) };
    if let Ok(dir) = dir {
        let listed = close_listed(dir, &kept, &close);
        // SAFETY: our own directory fd.
        unsafe { raw::close(dir) };
        return listed;
    }
    let (soft, hard) = raw::nofile_limits()?;
    let top = soft.max(hard).min(i32::MAX as u64) as RawFd;
    for fd in (3..top).filter(|&fd| !kept(fd)) {
        close(fd);
    }
    Ok(())
}

/// `close_range` over every gap between the kept fds, and above the last (`mark_only`:
/// `CLOSE_RANGE_CLOEXEC`, 5.11).
fn close_gaps(keep: &[RawFd], mark_only: bool) -> Result<(), i32> {
    let flags = if mark_only { CLOSE_RANGE_CLOEXEC } else { 0 };
    let mut lo: u32 = 3;
    for &k in keep {
        let k = k as u32;
        if k > lo {
            // SAFETY: closing (or marking) fds of our own table.
            unsafe { raw::close_range(lo, k - 1, flags) }?;
        }
        lo = lo.max(k + 1);
    }
    // SAFETY: as above.
    unsafe { raw::close_range(lo, !0, flags) }
}

/// Closes (`close`) each fd that `/proc/self/fd` (open as `dir`) lists and `kept` does not keep.
fn close_listed(dir: RawFd, kept: &dyn Fn(RawFd) -> bool, close: &dyn Fn(RawFd)) -> Result<(), i32> {
    let mut buf = [0u8; 2048];
    loop {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { raw::getdents64(dir, buf.as_mut_ptr(), buf.len()) }?;
        if n == 0 {
            return Ok(());
        }
        let mut at = 0usize;
        while at + 19 < n {
            // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &buf[at + 19..(at + reclen).min(n)];
            let mut fd: i64 = 0;
            let mut digits = 0;
            for &c in name.iter().take_while(|&&c| c != 0) {
                if !c.is_ascii_digit() || fd > i64::from(i32::MAX) {
                    digits = 0;
                    break;
                }
                fd = fd * 10 + i64::from(c - b'0');
                digits += 1;
            }
            if digits > 0 && fd <= i64::from(i32::MAX) && fd as RawFd != dir && !kept(fd as RawFd) {
                close(fd as RawFd);
            }
            at += reclen;
        }
    }
}

/// The entry of a vfork child, on its own stack: runs the plan, leaves the errno in the shared
/// plan, exits.
pub(super) extern "C" fn vfork_child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildPlan` the suspended parent passed to clone; we are the child.
    let plan = unsafe { &*(arg as *const ChildPlan) };
    // SAFETY: a fresh vfork child with every signal blocked (the parent blocked them).
    let e = unsafe { child_exec(plan) };
    plan.err.store(e, Ordering::SeqCst);
    raw::exit(127)
}
