//! The background reaper of both crates: dropped [`Child`](crate::Child)ren here, and in
//! `pidfd-async` the children whose runtime is gone before they exit and what an exit set
//! still holds when its reactor fails. One thread for the whole process, started the first
//! time a running child is handed over, so a drop never leaves a zombie.
//!
//! The thread blocks in `epoll_wait` on an epoll instance of its own, each pidfd added once
//! (edge-triggered, keyed): one `try_wait` per wake-up of that process, O(1) per exit, no scan
//! of the others. A wake-up that is not a reapable exit (a tracer holds the zombie) keeps the
//! entry until its next wake-up (the tracer's release wakes the pidfd again).

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::{PidFd, sys};

struct Reaper {
    epoll: sys::Epoll,
    /// The pidfds by key, and the next key (a plain counter under the lock: 32-bit targets such
    /// as powerpc have no 64-bit atomics).
    entries: Mutex<(HashMap<u64, PidFd>, u64)>,
}

/// `None` when the thread or its epoll instance could not be created.
static REAPER: OnceLock<Option<&'static Reaper>> = OnceLock::new();

/// How many times the thread has returned from `epoll_wait`: what a test counts to tell a
/// reaper that sleeps from one that spins (see [`rounds`]).
static ROUNDS: AtomicUsize = AtomicUsize::new(0);

/// How many times the reaper thread has woken (returned from `epoll_wait`) since the process
/// started: one per wake-up of an adopted pidfd, however loaded the machine.
#[cfg(feature = "__test-util")]
pub(crate) fn rounds() -> usize {
    ROUNDS.load(Ordering::Relaxed)
}

/// Reaps the process behind `fd` now if it has exited, else hands it to the reaper thread,
/// which reaps it when it exits. A process that is not our child (or was reaped by someone
/// else) is simply closed.
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
    let mut entries = reaper.entries.lock().unwrap_or_else(|p| p.into_inner());
    let key = entries.1;
    entries.1 += 1;
    // Added under the lock, so the thread finds the entry for any event of this fd. An exit
    // before the `add` is reported by the `add` itself (epoll checks the current readiness).
    if reaper.epoll.add(fd.as_fd(), key).is_ok() {
        entries.0.insert(key, fd);
    }
}

fn start() -> Option<&'static Reaper> {
    let epoll = sys::Epoll::new().ok()?;
    let reaper: &'static Reaper = Box::leak(Box::new(Reaper { epoll, entries: Mutex::new((HashMap::new(), 0)) }));
    std::thread::Builder::new().name("pidfd-reaper".into()).spawn(move || run(reaper)).ok()?;
    Some(reaper)
}

fn run(reaper: &'static Reaper) {
    let mut events = sys::event_buffer(64);
    loop {
        let waited = reaper.epoll.wait(&mut events, -1);
        ROUNDS.fetch_add(1, Ordering::Relaxed);
        let Ok(n) = waited else {
            // Cannot happen for a valid epoll fd and buffer; do not spin if it does.
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        };
        let mut entries = reaper.entries.lock().unwrap_or_else(|p| p.into_inner());
        for ev in &events[..n] {
            let key = ev.u64;
            let Some(fd) = entries.0.get(&key) else { continue };
            // Reaped now, or nothing left to wait for: dropping the pidfd closes it and removes
            // its epoll item. "Not yet" keeps it for its next wake-up (edge-triggered).
            if !matches!(fd.try_wait(), Ok(None)) {
                entries.0.remove(&key);
            }
        }
    }
}
