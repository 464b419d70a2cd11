//! Process creation for `pidfd::Command`: the creation paths ([`Method`], each with its flags
//! here and nowhere else), the child stack of the vfork paths, and [`spawn_child`], which
//! creates a child by one path and reports what the kernel answered. Which path to take, and
//! which to try after a refusal, is decided on the safe side (`crate::method`).
//!
//! Every path blocks every signal around the clone (the raw `rt_sigprocmask`: 32 and 33 too,
//! which glibc's `pthread_sigmask` leaves out), so no handler of ours runs in the child before
//! it has reset the dispositions; the spawning thread's mask is restored before returning.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use pidfd_sys as uapi;

use super::child::{ChildPlan, PathPlan, child_exec, vfork_child_entry};
use super::raw::{self, KernelSigset};
use super::{Call, fault, owned, reap_raw, seqpacket_pair};

#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
#[path = "trampoline/x86_64.rs"]
mod trampoline;

#[cfg(target_arch = "aarch64")]
#[path = "trampoline/aarch64.rs"]
mod trampoline;

/// Architectures without a trampoline never choose [`Method::Clone3Vfork`]; should one get
/// here, the answer is "no clone3".
#[cfg(not(any(all(target_arch = "x86_64", target_pointer_width = "64"), target_arch = "aarch64")))]
mod trampoline {
    /// # Safety
    /// None needed: it makes no call.
    pub(crate) unsafe fn clone3_vfork(
        _args: &mut pidfd_sys::clone_args,
        _f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
        _arg: *mut libc::c_void,
    ) -> libc::c_long {
        -libc::c_long::from(libc::ENOSYS)
    }
}

/// Whether this architecture has the vfork `clone3` trampoline (x86_64 and aarch64); the
/// others create the vfork child with `clone` only.
pub(crate) const CLONE3_VFORK: bool =
    cfg!(any(all(target_arch = "x86_64", target_pointer_width = "64"), target_arch = "aarch64"));

/// How a child is created. The vfork paths share our memory until the child execs (the parent
/// suspended meanwhile): the cheapest, and the default. The fork-like paths give the child a
/// copy: for a cgroup given at creation, for a child that changes its credentials (which makes
/// the kernel mark the memory non-dumpable: ours must stay as it was), and as fallbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// `clone3(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD | CLONE_CLEAR_SIGHAND)`
    /// (5.5), where this architecture has the trampoline ([`CLONE3_VFORK`]): the kernel resets
    /// the caught signals, so the child does not query each disposition.
    Clone3Vfork,
    /// `clone(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD)` (5.2).
    VforkClone,
    /// `clone3(CLONE_PIDFD | CLONE_INTO_CGROUP)`, fork semantics (5.7).
    Clone3Cgroup { cgroup: RawFd },
    /// `clone(CLONE_PIDFD)`, fork semantics (5.2); the child waits until the parent has seen
    /// the pidfd.
    ForkClone,
    /// `clone()`, fork semantics; the child waits while the parent opens its pidfd
    /// (`pidfd_open`, 5.3), so the pid still names it.
    Fork,
}

impl Method {
    /// The call that creates the child, as an error names it.
    pub(crate) fn op(self) -> &'static str {
        match self {
            Method::Clone3Vfork => "clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND)",
            Method::VforkClone => "clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD)",
            Method::Clone3Cgroup { .. } => "clone3(CLONE_PIDFD|CLONE_INTO_CGROUP)",
            Method::ForkClone => "clone(CLONE_PIDFD)",
            Method::Fork => "fork",
        }
    }

    /// What the child does on this path; `sockets` is the report socket pair `(parent's end,
    /// child's end)` of a fork-like path.
    fn path(self, sockets: Option<(RawFd, RawFd)>) -> PathPlan {
        let vfork = matches!(self, Method::Clone3Vfork | Method::VforkClone);
        PathPlan {
            report: sockets.map(|(_, child)| child),
            parent_end: sockets.map(|(parent, _)| parent),
            await_go: matches!(self, Method::ForkClone | Method::Fork),
            files_shared: vfork,
            expect_pidfd: vfork,
            handlers_cleared: self == Method::Clone3Vfork,
            ..PathPlan::default()
        }
    }

    /// The seam's names for this path's creating call: `clone3`, `clone` with `CLONE_PIDFD`,
    /// and `Vfork` for the two that share our memory (a plain fork-like clone is what every
    /// sandbox allows: no seam).
    fn calls(self) -> &'static [Call] {
        match self {
            Method::Clone3Vfork => &[Call::Clone3, Call::Vfork],
            Method::VforkClone => &[Call::Clone, Call::Vfork],
            Method::Clone3Cgroup { .. } => &[Call::Clone3],
            Method::ForkClone => &[Call::Clone],
            Method::Fork => &[],
        }
    }
}

/// Why [`spawn_child`] failed.
#[derive(Debug)]
pub(crate) enum SpawnError {
    /// No process was created (the call failed, or the kernel ignored `CLONE_PIDFD`, in which
    /// case the child exited before running anything): the call and its errno.
    Create { op: &'static str, errno: i32 },
    /// The child was created but a step before or at `execve` failed with this errno. `child`
    /// holds its pid and pidfd for the caller to reap; `None` when it has been reaped already.
    Child { errno: i32, child: Option<(i32, OwnedFd)> },
}

/// Blocks every signal on the calling thread (the raw call: glibc's reserved 32 and 33 too),
/// returning the previous mask.
pub(crate) fn block_all_signals() -> KernelSigset {
    let mut old = raw::ALL_SIGNALS;
    // SAFETY: two kernel sigsets of the size passed. It cannot fail with these arguments; should
    // it, `old` stays "every signal", so the restore blocks rather than unblocks.
    let _ = unsafe { raw::sigprocmask(libc::SIG_SETMASK, &raw::ALL_SIGNALS, &mut old) };
    old
}

/// Restores a mask [`block_all_signals`] returned.
pub(crate) fn restore_signals(old: &KernelSigset) {
    // SAFETY: a kernel sigset of the size passed.
    let _ = unsafe { raw::sigprocmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

/// Creates the child by `method`. On success: `(pid, pidfd)`, after the `execve` succeeded.
pub(crate) fn spawn_child(plan: &mut ChildPlan, method: Method) -> Result<(i32, OwnedFd), SpawnError> {
    if let Some(Err(e)) = method.calls().iter().map(|&c| fault::check(c)).find(Result::is_err) {
        return Err(SpawnError::Create { op: method.op(), errno: errno_of(e) });
    }
    let result = match method {
        Method::Clone3Vfork | Method::VforkClone => vfork(plan, method),
        Method::Clone3Cgroup { .. } | Method::ForkClone | Method::Fork => fork_like(plan, method),
    };
    if !matches!(result, Err(SpawnError::Create { .. })) {
        fault::note_spawned(method);
    }
    result
}

/// `Command::exec`: the child's steps in this very process, then `execve`. Returns the errno of
/// the step that failed; the calling thread's signal mask is restored, and everything else the
/// steps changed stays changed, as std's `exec` documents (stdio, working directory, signal
/// dispositions, credentials, process group; the other fds only marked close-on-exec).
pub(crate) fn exec_in_place(plan: &mut ChildPlan) -> i32 {
    let old = block_all_signals();
    plan.finish(PathPlan { in_place: true, ..PathPlan::default() }, old);
    // SAFETY: `child_exec`'s contract in its in-place form: a valid plan built for this
    // process, every signal blocked, no report socket.
    let errno = unsafe { child_exec(plan) };
    // A step failed: the temporary copies of the sources it made (and did not place yet) are
    // ours to close, so a failed exec leaves no fd behind.
    for lifted in plan.path.lifted.iter() {
        let fd = lifted.load(Ordering::Relaxed);
        if fd >= 0 {
            // SAFETY: a copy the steps made with F_DUPFD_CLOEXEC, owned by nothing else.
            unsafe { raw::close(fd) };
        }
    }
    restore_signals(&old);
    errno
}

/// `CLONE_PIDFD` for `clone`, or 0 where the fault seam plays a kernel before 5.2, which
/// ignores the flag.
fn pidfd_flag() -> u64 {
    if fault::check(Call::IgnorePidfdFlag).is_err() { 0 } else { uapi::CLONE_PIDFD }
}

fn errno_of(e: io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// The vfork paths: the child runs on its own stack in our memory until it execs or exits.
fn vfork(plan: &mut ChildPlan, method: Method) -> Result<(i32, OwnedFd), SpawnError> {
    let create = |errno| SpawnError::Create { op: method.op(), errno };
    let stack = Stack::take(&STACK_SLOT).map_err(|e| create(errno_of(e)))?;
    let old = block_all_signals();
    plan.finish(method.path(None), old);
    let arg: *mut libc::c_void = (plan as *mut ChildPlan).cast();
    let pidfd_out = plan.pidfd.as_ptr();
    let (pid, errno) = if method == Method::Clone3Vfork {
        let mut args = uapi::clone_args {
            flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES) as u64
                | uapi::CLONE_PIDFD
                | uapi::CLONE_CLEAR_SIGHAND,
            pidfd: pidfd_out as usize as u64,
            exit_signal: libc::SIGCHLD as u64,
            stack: stack.base() as usize as u64,
            stack_size: Stack::SIZE as u64,
            ..Default::default()
        };
        // SAFETY: the child runs `vfork_child_entry` on the stack `args` names, which this
        // thread alone holds until the call returns (the parent is suspended until the child
        // has exec'd or exited: CLONE_VFORK), with `plan`, which stays alive and unmoved
        // meanwhile; `pidfd_out` is a valid int for the kernel to write.
        let r = unsafe { trampoline::clone3_vfork(&mut args, vfork_child_entry, arg) };
        if r < 0 { (-1, (-r) as i32) } else { (r as i32, 0) }
    } else {
        let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | pidfd_flag() as i32 | libc::SIGCHLD;
        // SAFETY: the child runs `vfork_child_entry` on its own stack with `plan`, which stays
        // alive and unmoved while the parent is suspended (CLONE_VFORK); `pidfd_out` is a valid
        // int for the kernel to write (CLONE_PIDFD uses the parent_tid argument).
        let pid = unsafe { libc::clone(vfork_child_entry, stack.top(), flags, arg, pidfd_out) };
        (pid, if pid < 0 { errno_of(io::Error::last_os_error()) } else { 0 })
    };
    restore_signals(&old);
    drop(stack);
    if pid < 0 {
        return Err(create(errno));
    }
    let pidfd = plan.pidfd.load(Ordering::SeqCst);
    if pidfd < 0 {
        // The kernel ignored CLONE_PIDFD (the probe said it would not): the child saw it and
        // exited without running the program. Nothing else knows its pid yet but a thief's
        // `waitpid(-1)`; reap it (it is exiting, so this does not wait for a program).
        let _ = reap_raw(pid);
        return Err(create(libc::ENOSYS));
    }
    let fd = owned(pidfd as libc::c_long);
    match plan.err.load(Ordering::SeqCst) {
        0 => Ok((pid, fd)),
        e => Err(SpawnError::Child { errno: e, child: Some((pid, fd)) }),
    }
}

/// The fork-like paths: the child runs in a copy of our memory and reports over a socket.
fn fork_like(plan: &mut ChildPlan, method: Method) -> Result<(i32, OwnedFd), SpawnError> {
    let create = |errno| SpawnError::Create { op: method.op(), errno };
    let (parent_end, child_end) = seqpacket_pair().map_err(|e| create(errno_of(e)))?;
    let old = block_all_signals();
    plan.finish(method.path(Some((parent_end.as_raw_fd(), child_end.as_raw_fd()))), old);
    let mut pidfd: libc::c_int = -1;
    let ret = match method {
        Method::Clone3Cgroup { cgroup } => {
            let mut args = uapi::clone_args {
                flags: uapi::CLONE_PIDFD | uapi::CLONE_INTO_CGROUP,
                pidfd: &mut pidfd as *mut libc::c_int as u64,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: cgroup as u64,
                ..Default::default()
            };
            // SAFETY: fork semantics (no CLONE_VM, stack 0): the child continues here on a
            // copy of our memory; `args` is a valid clone_args of the size passed.
            unsafe { libc::syscall(uapi::SYS_clone3, &mut args as *mut uapi::clone_args, uapi::CLONE_ARGS_SIZE_VER2) }
        }
        Method::ForkClone => fork_clone(pidfd_flag() as libc::c_long | libc::SIGCHLD as libc::c_long, &mut pidfd),
        _ => fork_clone(libc::SIGCHLD as libc::c_long, &mut pidfd),
    };
    if ret == 0 {
        // SAFETY: we are the child, with every signal blocked; only raw calls from here on.
        unsafe { child_exec(plan) };
        raw::exit(127);
    }
    let clone_err = io::Error::last_os_error();
    restore_signals(&old);
    drop(child_end);
    if ret < 0 {
        return Err(create(errno_of(clone_err)));
    }
    let pid = ret as i32;
    let fd = match method {
        Method::Fork => match super::pidfd_open(pid, 0) {
            // The child waits for our go, alive: the pid names it.
            Ok(fd) => fd,
            Err(e) => {
                // Our own pidfd_open failed (a resource limit, a policy): the child reads EOF
                // and exits; it is reaped by pid, the one window SECURITY.md lists for this
                // path.
                drop(parent_end);
                let _ = reap_raw(pid);
                return Err(SpawnError::Child { errno: errno_of(e), child: None });
            }
        },
        _ if pidfd < 0 => {
            // The kernel ignored CLONE_PIDFD (the probe said it would not): the child waits
            // for a go that never comes, reads EOF and exits without running the program.
            drop(parent_end);
            let _ = reap_raw(pid);
            return Err(create(libc::ENOSYS));
        }
        _ => owned(pidfd as libc::c_long),
    };
    if plan.path.await_go {
        // SAFETY: one byte from a static string to our socket.
        if let Err(errno) = unsafe { raw::write(parent_end.as_raw_fd(), b"g".as_ptr(), 1) } {
            return Err(SpawnError::Child { errno, child: Some((pid, fd)) });
        }
    }
    collect_report(&parent_end, pid, fd)
}

/// A fork-like raw `clone(flags)` (no `CLONE_VM`, stack 0: the child continues on a copy of
/// our stack); `flags` carries the exit signal in its low byte. With `CLONE_PIDFD` the kernel
/// writes the pidfd to `pidfd`. Returns what the kernel returned: 0 in the child, the child's
/// pid in the parent, -1 on failure (errno set).
#[allow(clippy::unnecessary_cast)] // `c_long` is `i32` on 32-bit targets.
pub(super) fn fork_clone(flags: libc::c_long, pidfd: &mut libc::c_int) -> libc::c_long {
    let pidfd_ptr = pidfd as *mut libc::c_int;
    // SAFETY: fork-like clone: the child gets a copy of our memory and continues in the caller,
    // which must make only raw calls there. `pidfd_ptr` is valid for the kernel to write an
    // int. The parent_tid pointer is the third argument on every architecture but s390 (stack
    // first, flags second).
    #[cfg(not(target_arch = "s390x"))]
    let ret = unsafe {
        libc::syscall(libc::SYS_clone, flags, 0 as libc::c_long, pidfd_ptr, 0 as libc::c_long, 0 as libc::c_long)
    };
    // SAFETY: as above; s390 passes the stack before the flags.
    #[cfg(target_arch = "s390x")]
    let ret = unsafe {
        libc::syscall(libc::SYS_clone, 0 as libc::c_long, flags, pidfd_ptr, 0 as libc::c_long, 0 as libc::c_long)
    };
    ret
}

/// Reads a fork-like child's report: EOF means the exec succeeded, 4 bytes are its errno.
fn collect_report(sock: &OwnedFd, pid: i32, fd: OwnedFd) -> Result<(i32, OwnedFd), SpawnError> {
    let mut buf = [0u8; 4];
    let mut got = Vec::new();
    match super::recv_with_fds(sock.as_raw_fd(), &mut buf, &mut got) {
        Ok(0) => Ok((pid, fd)),
        Ok(4) => Err(SpawnError::Child { errno: i32::from_ne_bytes(buf), child: Some((pid, fd)) }),
        Ok(_) => Err(SpawnError::Child { errno: libc::EIO, child: Some((pid, fd)) }),
        Err(e) => Err(SpawnError::Child { errno: errno_of(e), child: Some((pid, fd)) }),
    }
}

/// The page size the kernel gave this process (`AT_PAGESZ`): 4 KiB, 16 KiB or 64 KiB.
fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: getauxval reads the auxiliary vector; no preconditions.
            let page = match unsafe { libc::getauxval(libc::AT_PAGESZ) } as usize {
                // SAFETY: sysconf has no preconditions.
                0 => unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize,
                p => p,
            };
            PAGE.store(page, Ordering::Relaxed);
            page
        }
        page => page,
    }
}

/// The cached child stack of the vfork paths (null: none cached). A spawn takes it, leaving
/// null, and puts it back once the clone has returned, i.e. once the vfork child has exec'd or
/// exited and no longer runs on it. A spawn that finds the slot empty (another thread's spawn
/// holds the stack) maps its own; one that finds the slot refilled when it is done unmaps its
/// own. So no two children ever run on one stack, and at most one stays mapped between spawns.
static STACK_SLOT: AtomicPtr<libc::c_void> = AtomicPtr::new(std::ptr::null_mut());

/// A child stack: [`Stack::SIZE`] usable bytes above a guard page of the real page size, in
/// one mapping; taken from `slot` (or mapped when the slot is empty) and given back to it when
/// dropped (or unmapped when the slot is full).
pub(crate) struct Stack {
    /// The lowest usable byte, one page into the mapping (the slot holds the same).
    base: *mut libc::c_void,
    slot: &'static AtomicPtr<libc::c_void>,
}

impl Stack {
    /// The usable size, whatever the page size.
    pub(crate) const SIZE: usize = 128 * 1024;

    fn mapping_len() -> usize {
        page_size() + Stack::SIZE
    }

    pub(crate) fn take(slot: &'static AtomicPtr<libc::c_void>) -> io::Result<Stack> {
        let base = slot.swap(std::ptr::null_mut(), Ordering::Acquire);
        if !base.is_null() {
            return Ok(Stack { base, slot });
        }
        // SAFETY: anonymous private mapping; checked for MAP_FAILED.
        let mapping = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Stack::mapping_len(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if mapping == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the first page of our own mapping becomes the guard.
        if unsafe { libc::mprotect(mapping, page_size(), libc::PROT_NONE) } != 0 {
            let e = io::Error::last_os_error();
            // SAFETY: our own mapping, referenced by nothing else.
            unsafe { libc::munmap(mapping, Stack::mapping_len()) };
            return Err(e);
        }
        fault::note_stack_mapped();
        // SAFETY: one page into our mapping.
        Ok(Stack { base: unsafe { mapping.cast::<u8>().add(page_size()).cast() }, slot })
    }

    /// The start of the mapping: the guard page.
    fn mapping(&self) -> *mut libc::c_void {
        // SAFETY: `base` is one page into the mapping.
        unsafe { self.base.cast::<u8>().sub(page_size()).cast() }
    }

    /// The lowest usable byte: just above the guard page.
    pub(crate) fn base(&self) -> *mut libc::c_void {
        self.base
    }

    /// One past the highest usable byte; stacks grow down (on every Linux target Rust
    /// supports except hppa, which Rust does not support).
    pub(super) fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of our mapping.
        unsafe { self.base.cast::<u8>().add(Stack::SIZE).cast() }
    }

    /// The guard page's address and length.
    #[cfg(test)]
    pub(crate) fn guard(&self) -> (usize, usize) {
        (self.mapping() as usize, page_size())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // No child runs on the stack any more (the vfork child has exec'd or exited): back to
        // the slot if it is empty, else unmapped.
        if self.slot.compare_exchange(std::ptr::null_mut(), self.base, Ordering::Release, Ordering::Relaxed).is_err() {
            // SAFETY: unmapping our own mapping, which nobody else references.
            unsafe { libc::munmap(self.mapping(), Stack::mapping_len()) };
        }
    }
}
