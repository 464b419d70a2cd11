//! [`ExitSet`]: many processes, one reactor registration, O(1) work per exit.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::task::{Context, Poll};

use pidfd::{ExitPoll, PidFd};
use tokio::io::unix::AsyncFd;

use crate::async_pidfd::current_runtime;
use crate::error::{Error, Result};

use crate::slots::{Key, Slots};
use crate::sys::{self, Epoll, Event};

/// How many events one non-blocking `epoll_wait` on the inner set collects.
const BATCH: usize = 256;

/// A set of processes, each under a key, that yields `(key, exit status)` as they exit.
///
/// Every process is added once, edge-triggered, to an epoll instance owned by the set; that
/// instance is the set's only registration with tokio's reactor. When it turns readable the set
/// collects the ready entries with one non-blocking `epoll_wait` (up to 256 per call) and
/// collects each status with `waitid(WNOHANG)`; closing the reported pidfd removes it from the
/// inner epoll. So an exit costs O(1) work, about two system calls (`waitid`, `close`; the
/// `epoll_wait`s are shared by all exits that are ready together), and a pending process costs
/// one slot of the set (tens of bytes) plus the kernel's epoll item. No thread, no task per
/// process.
///
/// A readiness that is not a reapable exit (a tracer holds the zombie) is "not yet": the entry
/// waits for its next wake-up, at no cost meanwhile. Processes that are not our children are
/// reported once their parent has reaped them, with the status from `PIDFD_INFO_EXIT` (6.15),
/// or with `Unsupported` at their exit on older kernels (see [`AsyncPidFd::wait`](crate::AsyncPidFd::wait)).
///
/// [`next`](ExitSet::next) is cancellation-safe: an exit collected by a future that is then
/// dropped is not lost, since collection and return happen in one poll; events fetched but not
/// yet processed stay in the set.
///
/// Dropping the set closes the pidfds of the processes not yet reported, without reaping them
/// (they may not be our children); kill and drain first if they are (see the crate's
/// supervisor example).
///
/// # Kernel support
/// Any kernel with pidfds (5.3); per process as [`AsyncPidFd::wait`](crate::AsyncPidFd::wait).
///
/// # Errors
/// Per method; a process's own error comes with its key from [`next`](ExitSet::next).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut set = pidfd_async::ExitSet::new()?;
/// for code in [3, 1, 2] {
///     let child = pidfd::Command::new("sh").arg("-c").arg(format!("sleep 0.{code}; exit {code}")).spawn()?;
///     set.insert(code, child.into_pidfd())?;
/// }
/// let mut order = Vec::new();
/// while let Some((code, status)) = set.next().await {
///     assert_eq!(status?.code(), Some(code));
///     order.push(code);
/// }
/// assert_eq!(order, [1, 2, 3]);
/// # Ok(())
/// # }
/// ```
pub struct ExitSet<K> {
    epoll: AsyncFd<Epoll>,
    entries: Slots<(K, PidFd)>,
    /// Event data (`generation << 32 | index`) fetched from the inner epoll, not yet looked at.
    pending: VecDeque<u64>,
    events: Box<[Event]>,
    /// After the reactor failed (runtime shutting down): the error, and the entries still to
    /// report, taken once from the slots (later inserts are pushed too), so each report is O(1).
    failed: Option<Failed>,
}

struct Failed {
    kind: io::ErrorKind,
    text: String,
    /// Entries not reported yet (some may have been removed since: checked by generation).
    left: Vec<ExitId>,
}

/// Names one entry of an [`ExitSet`], for [`ExitSet::remove`] and [`ExitSet::get`]. Never
/// names a later entry that reuses the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExitId(Key);

impl<K> ExitSet<K> {
    /// An empty set, registered with the current tokio runtime.
    ///
    /// # Kernel support
    /// Any kernel with pidfds (5.3).
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a runtime; [`Error::NoIoDriver`] when the runtime was built
    /// without I/O; [`Error::Io`] from `epoll_create1` or the registration.
    pub fn new() -> Result<ExitSet<K>> {
        current_runtime()?;
        let epoll = Epoll::new().map_err(|e| Error::io("epoll_create1", e))?;
        let epoll =
            sys::register(epoll).map_err(|(_, e)| Error::io("register the exit set with the tokio reactor", e))?;
        Ok(ExitSet {
            epoll,
            entries: Slots::new(),
            pending: VecDeque::new(),
            events: sys::event_buffer(BATCH),
            failed: None,
        })
    }

    /// Adds a process under `key`. Accepts a [`PidFd`] or anything that converts into one (an
    /// [`AsyncPidFd`](crate::AsyncPidFd), which is taken out of its runtime's hub first).
    ///
    /// One `epoll_ctl(ADD)`. A process that has already exited is reported by the next
    /// [`next`](ExitSet::next).
    ///
    /// # Kernel support
    /// Any kernel with pidfds (5.3).
    ///
    /// # Errors
    /// [`Error::Io`] from `epoll_ctl` (`ENOMEM`; `ENOSPC` past `fs.epoll.max_user_watches`);
    /// the pidfd is then closed, the process untouched.
    pub fn insert(&mut self, key: K, fd: impl Into<PidFd>) -> Result<ExitId> {
        let fd = fd.into();
        let epoll = &self.epoll;
        let id = self
            .entries
            .insert_with(|id| epoll.get_ref().add(fd.as_fd(), id.pack()).map(|()| (key, fd)))
            .map(ExitId)
            .map_err(|e| Error::io("epoll_ctl(EPOLL_CTL_ADD)", e))?;
        if let Some(failed) = &mut self.failed {
            failed.left.push(id);
        }
        Ok(id)
    }

    /// Takes an entry out of the set before it was reported, giving back its key and pidfd.
    /// `None` if `id` was already reported or removed.
    ///
    /// # Kernel support
    /// Any kernel: one `epoll_ctl(EPOLL_CTL_DEL)`, which cannot fail for a registered fd.
    pub fn remove(&mut self, id: ExitId) -> Option<(K, PidFd)> {
        let (key, fd) = self.entries.remove(id.0)?;
        let _ = self.epoll.get_ref().delete(fd.as_fd());
        Some((key, fd))
    }

    /// The key and pidfd of an entry still in the set.
    pub fn get(&self, id: ExitId) -> Option<(&K, &PidFd)> {
        self.entries.get(id.0).map(|(k, fd)| (k, fd))
    }

    /// Every entry still in the set, in no particular order (for example to signal them all).
    /// O(capacity): for occasional use, not per exit.
    pub fn iter(&self) -> impl Iterator<Item = (ExitId, &K, &PidFd)> + '_ {
        self.entries.iter().map(|(id, (k, fd))| (ExitId(id), k, fd))
    }

    /// How many processes have not been reported yet.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether every process has been reported (or none was inserted).
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Waits for the next process of the set to exit and returns its key and status; `None`
    /// when the set is empty. Cancellation-safe.
    ///
    /// # Kernel support
    /// As [`AsyncPidFd::wait`](crate::AsyncPidFd::wait), per process.
    ///
    /// # Errors
    /// The status is an error where [`AsyncPidFd::wait`](crate::AsyncPidFd::wait) would give
    /// one (e.g. `Unsupported` for a process that is not our child before 6.15). If the reactor
    /// itself fails (the runtime is shutting down, or the set is polled after its runtime is
    /// gone), every remaining entry is reported at once: with its status if it has exited by
    /// then, else with that [`Error::Io`]; a process still running then is handed to the
    /// process's reaper thread (`pidfd`'s), which reaps it when it exits if it is our child (no
    /// zombie).
    pub async fn next(&mut self) -> Option<(K, Result<ExitStatus>)> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The poll form of [`next`](ExitSet::next), for hand-written futures and streams. Only the
    /// task that polled last is woken.
    ///
    /// # Kernel support
    /// As [`next`](ExitSet::next).
    ///
    /// # Errors
    /// As [`next`](ExitSet::next).
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(K, Result<ExitStatus>)>> {
        loop {
            while let Some(data) = self.pending.pop_front() {
                let id = Key::unpack(data);
                let Some((_, fd)) = self.entries.get(id) else { continue };
                if let Some(result) = collected(fd) {
                    let Some((key, fd)) = self.entries.remove(id) else { continue };
                    // Closing the pidfd drops its inner epoll item (unless the caller holds a dup;
                    // then the bumped generation makes its events stale).
                    drop(fd);
                    return Poll::Ready(Some((key, result)));
                }
                // Not yet: its next wake-up brings a new event (edge-triggered).
            }
            if self.entries.len() == 0 {
                return Poll::Ready(None);
            }
            if self.failed.is_some() {
                return Poll::Ready(self.report_after_failure());
            }
            let mut guard = match self.epoll.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(guard)) => guard,
                Poll::Ready(Err(e)) => {
                    self.fail(e.kind(), e.to_string());
                    continue;
                }
            };
            match self.epoll.get_ref().wait(&mut self.events, 0) {
                Ok(n) => {
                    self.pending.extend(self.events[..n].iter().map(|ev| ev.u64));
                    // Fewer than asked: drained. New events from here on re-arm the readiness.
                    if n < self.events.len() {
                        guard.clear_ready();
                    }
                }
                Err(e) => self.fail(e.kind(), format!("epoll_wait: {e}")),
            }
        }
    }

    /// The reactor failed: from now on every entry is reported without waiting. One O(N) pass
    /// over the slots, here, then O(1) per report.
    fn fail(&mut self, kind: io::ErrorKind, text: String) {
        let left = self.iter().map(|(id, _, _)| id).collect();
        self.failed = Some(Failed { kind, text, left });
    }

    /// One entry after the reactor failed: its status if it has exited, else the reactor's
    /// error (and the process goes to the reaper thread). `None` once all are reported.
    fn report_after_failure(&mut self) -> Option<(K, Result<ExitStatus>)> {
        loop {
            let failed = self.failed.as_mut()?;
            let id = failed.left.pop()?;
            let source = io::Error::new(failed.kind, failed.text.clone());
            let Some((_, fd)) = self.entries.get(id.0) else { continue };
            let reaped = collected(fd);
            let Some((key, fd)) = self.entries.remove(id.0) else { continue };
            return Some(match reaped {
                Some(result) => (key, result),
                None => {
                    pidfd::__private::reap_in_background(fd);
                    (key, Err(Error::io("wait for readiness of the exit set", source)))
                }
            });
        }
    }
}

impl<K: fmt::Debug> fmt::Debug for ExitSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitSet")
            .field("len", &self.entries.len())
            .field("pending_events", &self.pending.len())
            .finish()
    }
}

/// [`PidFd::poll_exit`], the one wait decision, as an exit set needs it: the status or the error
/// that ends the wait, or `None` for "not yet" (`Running`, or `Busy`: no other caller holds an
/// entry's pidfd, so its next event comes).
fn collected(fd: &PidFd) -> Option<Result<ExitStatus>> {
    match fd.poll_exit() {
        Ok(ExitPoll::Exited(status)) => Some(Ok(status)),
        Ok(_) => None,
        Err(e) => Some(Err(e.into())),
    }
}
