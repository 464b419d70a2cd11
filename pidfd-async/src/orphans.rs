//! The last resort for children that outlive the runtime meant to reap them: one thread for the
//! whole process, started the first time it is needed, that reaps what it is handed as the
//! processes exit.
//!
//! Normally a dropped [`Child`](crate::Child) is reaped by a small task on its runtime. That task
//! is dropped when the runtime shuts down (or is never run, if the runtime is gone already);
//! the task's guard then hands the pidfd here. The same goes for a child whose registration
//! failed after the spawn, and for the entries an [`ExitSet`](crate::ExitSet) still holds when
//! its reactor fails. Nothing else uses this thread, so a program that keeps its runtimes alive
//! never starts it.
//!
//! The thread blocks in `epoll_wait` on an epoll instance of its own, with each pidfd added once
//! (edge-triggered, data = a key into a map): one `waitid(WNOHANG)` per wake-up of that process,
//! O(1) per exit, no scan of the other orphans. A wake-up that is not a reapable exit (a tracer
//! holds the zombie) keeps the entry until its next wake-up.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use pidfd::PidFd;

use crate::sys::Epoll;

struct Reaper {
    epoll: Epoll,
    entries: Mutex<HashMap<u64, PidFd>>,
    next_key: AtomicU64,
}

/// `None` when the thread or its epoll instance could not be created.
static REAPER: OnceLock<Option<&'static Reaper>> = OnceLock::new();

/// Reaps the process behind `fd` now if it has exited, else hands it to the reaper thread, which
/// reaps it when it exits. A process that is not our child (or was reaped by someone else) is
/// simply closed.
///
/// Residual case: if the thread cannot be started (no memory, thread limit) or the epoll item
/// cannot be added (`ENOMEM`, `fs.epoll.max_user_watches`), the pidfd is closed and a child
/// still running then stays a zombie until this process exits.
pub(crate) fn adopt(fd: PidFd) {
    // Exited (and now reaped), not our child, or an error that waiting would only repeat.
    if !matches!(fd.try_wait(), Ok(None)) {
        return;
    }
    let Some(reaper) = REAPER.get_or_init(start) else { return };
    let key = reaper.next_key.fetch_add(1, Ordering::Relaxed);
    let mut entries = reaper.entries.lock().unwrap_or_else(|p| p.into_inner());
    // Added under the lock, so the thread finds the entry for any event of this fd. An exit
    // before the `add` is reported by the `add` itself (epoll checks the current readiness).
    if reaper.epoll.add(fd.as_fd(), key).is_ok() {
        entries.insert(key, fd);
    }
}

fn start() -> Option<&'static Reaper> {
    let epoll = Epoll::new().ok()?;
    let reaper: &'static Reaper =
        Box::leak(Box::new(Reaper { epoll, entries: Mutex::new(HashMap::new()), next_key: AtomicU64::new(0) }));
    std::thread::Builder::new().name("pidfd-async-reaper".into()).spawn(move || run(reaper)).ok()?;
    Some(reaper)
}

fn run(reaper: &'static Reaper) {
    let mut events = crate::sys::event_buffer(64);
    loop {
        let n = match reaper.epoll.wait_blocking(&mut events) {
            Ok(n) => n,
            // Cannot happen for a valid epoll fd and buffer; do not spin if it does.
            Err(_) => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let mut entries = reaper.entries.lock().unwrap_or_else(|p| p.into_inner());
        for ev in &events[..n] {
            let key = ev.u64;
            let Some(fd) = entries.get(&key) else { continue };
            // Reaped now, or nothing left to wait for: dropping the pidfd closes it and removes
            // its epoll item. "Not yet" keeps it for its next wake-up (edge-triggered).
            if !matches!(fd.try_wait(), Ok(None)) {
                entries.remove(&key);
            }
        }
    }
}
