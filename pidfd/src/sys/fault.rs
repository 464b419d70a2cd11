//! Per-thread fault injection: `inject(Call::GetInfo, ENOTTY)` makes every `GetInfo` call of
//! the current thread fail with `ENOTTY` until the guard drops; `inject_on_fd` limits the fault
//! to calls on one fd (so a probe on its own pidfd is not hit); `fake_file` makes `read_file`
//! of one path return given bytes (what an older kernel would have written there). Compiled
//! only in test builds; elsewhere every check is an inlined `Ok(())`.

#[cfg(not(test))]
pub(crate) use off::*;
#[cfg(test)]
pub(crate) use seam::*;

#[cfg(test)]
mod seam {
    use super::super::Call;
    use std::cell::{Cell, RefCell};
    use std::ffi::{CStr, CString};
    use std::os::fd::RawFd;

    enum Fault {
        Call { call: Call, errno: i32, fd: Option<RawFd> },
        File { path: CString, content: Vec<u8> },
    }

    thread_local! {
        static FAULTS: RefCell<Vec<(u64, Fault)>> = const { RefCell::new(Vec::new()) };
        static NEXT: Cell<u64> = const { Cell::new(0) };
        static SPAWNED: Cell<Option<super::super::Method>> = const { Cell::new(None) };
        static STACKS_MAPPED: Cell<u64> = const { Cell::new(0) };
        static CALLS: RefCell<Vec<(Call, Option<RawFd>)>> = const { RefCell::new(Vec::new()) };
    }

    /// Records the method that created this thread's last `pidfd::Command` child.
    pub(crate) fn note_spawned(method: super::super::Method) {
        SPAWNED.with(|m| m.set(Some(method)));
    }

    /// The method that created this thread's last `pidfd::Command` child (which path a test
    /// really took).
    pub(crate) fn last_spawned() -> Option<super::super::Method> {
        SPAWNED.with(Cell::get)
    }

    /// Counts the child stacks this thread mapped (rather than took from the slot).
    pub(crate) fn note_stack_mapped() {
        STACKS_MAPPED.with(|n| n.set(n.get() + 1));
    }

    /// How many child stacks this thread has mapped.
    pub(crate) fn stacks_mapped() -> u64 {
        STACKS_MAPPED.with(Cell::get)
    }

    /// Removes the injected fault when dropped.
    pub(crate) struct Guard(u64);

    impl Drop for Guard {
        fn drop(&mut self) {
            FAULTS.with(|f| f.borrow_mut().retain(|(id, _)| *id != self.0));
        }
    }

    fn add(fault: Fault) -> Guard {
        let id = NEXT.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        FAULTS.with(|f| f.borrow_mut().push((id, fault)));
        Guard(id)
    }

    /// Makes `call` fail with `errno` on this thread.
    pub(crate) fn inject(call: Call, errno: i32) -> Guard {
        add(Fault::Call { call, errno, fd: None })
    }

    /// Makes `call` fail with `errno` on this thread, only when it is made on `fd`.
    pub(crate) fn inject_on_fd(call: Call, fd: RawFd, errno: i32) -> Guard {
        add(Fault::Call { call, errno, fd: Some(fd) })
    }

    /// Makes `read_file(path)` on this thread return `content`.
    pub(crate) fn fake_file(path: &str, content: impl Into<Vec<u8>>) -> Guard {
        add(Fault::File { path: CString::new(path).unwrap(), content: content.into() })
    }

    /// Whether a fault that a probe could meet is active on this thread (probe results must
    /// then not be cached, nor cached ones used). The faults of `pidfd::Command`'s creation paths
    /// never reach a probe (the probes make their own calls, unseen by the seam).
    pub(crate) fn active() -> bool {
        let spawn_only =
            |c: &Call| matches!(c, Call::Clone3 | Call::Clone | Call::Vfork | Call::IgnorePidfdFlag | Call::CloseRange);
        FAULTS.with(|f| {
            f.borrow().iter().any(|(_, fault)| !matches!(fault, Fault::Call { call, .. } if spawn_only(call)))
        })
    }

    /// Whether a fault for `call` is active on this thread (its errors are the seam's, not the
    /// kernel's).
    pub(crate) fn injected(call: Call) -> bool {
        FAULTS.with(|f| f.borrow().iter().any(|(_, fault)| matches!(fault, Fault::Call { call: c, .. } if *c == call)))
    }

    /// How many times this thread made `call` (counted at the seam, whether or not a fault hit),
    /// on fd `on` for the calls the seam sees with their fd.
    pub(crate) fn calls(call: Call, on: Option<RawFd>) -> u64 {
        CALLS.with(|c| c.borrow().iter().filter(|&&(c, fd)| c == call && (on.is_none() || fd == on)).count() as u64)
    }

    fn find(call: Call, on: Option<RawFd>) -> std::io::Result<()> {
        CALLS.with(|c| c.borrow_mut().push((call, on)));
        FAULTS.with(|f| {
            let hit = f.borrow().iter().find_map(|(_, fault)| match fault {
                Fault::Call { call: c, errno, fd } if *c == call && (fd.is_none() || *fd == on) => Some(*errno),
                _ => None,
            });
            match hit {
                Some(errno) => Err(std::io::Error::from_raw_os_error(errno)),
                None => Ok(()),
            }
        })
    }

    pub(crate) fn check(call: Call) -> std::io::Result<()> {
        find(call, None)
    }

    pub(crate) fn check_fd(call: Call, fd: RawFd) -> std::io::Result<()> {
        find(call, Some(fd))
    }

    /// The fake content of `path`, copied into `buf`, if a test set one.
    pub(crate) fn file(path: &CStr, buf: &mut [u8]) -> Option<usize> {
        FAULTS.with(|f| {
            f.borrow().iter().find_map(|(_, fault)| match fault {
                Fault::File { path: p, content } if p.as_c_str() == path => {
                    let n = content.len().min(buf.len());
                    buf[..n].copy_from_slice(&content[..n]);
                    Some(n)
                }
                _ => None,
            })
        })
    }
}

#[cfg(not(test))]
mod off {
    use super::super::Call;

    #[inline(always)]
    pub(crate) fn note_spawned(_method: super::super::Method) {}

    #[inline(always)]
    pub(crate) fn note_stack_mapped() {}

    #[inline(always)]
    pub(crate) fn active() -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn injected(_call: Call) -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn check(_call: Call) -> std::io::Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn check_fd(_call: Call, _fd: std::os::fd::RawFd) -> std::io::Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn file(_path: &std::ffi::CStr, _buf: &mut [u8]) -> Option<usize> {
        None
    }
}
