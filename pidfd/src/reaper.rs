//! The background reaper of both crates: dropped [`Child`](crate::Child)ren here, and in
//! `pidfd-async` the children whose runtime is gone before they exit and what an exit set
//! still holds when its reactor fails. One thread for the whole process, started the first
//! time a running child is handed over, so a drop never leaves a zombie.
//!
//! The thread blocks in `epoll_wait` on an epoll instance of its own, each pidfd added once
//! (edge-triggered, keyed), and asks [`PidFd::poll_exit`], the one wait decision, once per
//! wake-up of that process: O(1) per exit, no scan of the others. `Running` (a tracer holds
//! the zombie) keeps the entry until its next wake-up, which is sure to come; `Busy` (someone
//! else is collecting the exit right now, whose reap wakes nobody before 6.9) asks again after
//! a short sleep ([`Backoff::exit`]) instead of waiting for a wake-up.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::backoff::Backoff;
use crate::{ExitPoll, PidFd, sys};

/// The pidfds the thread waits on, in its epoll instance.
pub(crate) struct Reaper {
    epoll: sys::Epoll,
    /// The pidfds by key, and the next key (a plain counter under the lock: 32-bit targets such
    /// as powerpc have no 64-bit atomics).
    entries: Mutex<(HashMap<u64, PidFd>, u64)>,
}

impl Reaper {
    pub(crate) fn new() -> std::io::Result<Reaper> {
        Ok(Reaper { epoll: sys::Epoll::new()?, entries: Mutex::new((HashMap::new(), 0)) })
    }

    /// Adds `fd` under a new key (returned), or closes it when the epoll item cannot be added.
    pub(crate) fn add(&self, fd: PidFd) -> Option<u64> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let key = entries.1;
        entries.1 += 1;
        // Added under the lock, so the thread finds the entry for any event of this fd. An exit
        // before the `add` is reported by the `add` itself (epoll checks the current readiness).
        self.epoll.add(fd.as_fd(), key).ok()?;
        entries.0.insert(key, fd);
        Some(key)
    }

    /// Whether the entry of `key` is still waited for.
    #[cfg(test)]
    pub(crate) fn holds(&self, key: u64) -> bool {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).0.contains_key(&key)
    }
}

/// `None` when the thread or its epoll instance could not be created.
static REAPER: OnceLock<Option<&'static Reaper>> = OnceLock::new();

/// How many times the thread has returned from `epoll_wait`, and how many times it has asked
/// again about an exit someone else was collecting: what a test counts to tell a reaper that
/// sleeps from one that spins (see [`rounds`]).
static ROUNDS: AtomicUsize = AtomicUsize::new(0);
static RETRIES: AtomicUsize = AtomicUsize::new(0);

/// How many times the reaper thread has returned from `epoll_wait` since the process started
/// (one per wake-up of an adopted pidfd, or per sleep of a busy retry), and how many busy
/// retries it made, however loaded the machine.
#[cfg(feature = "__test-util")]
pub(crate) fn rounds() -> (usize, usize) {
    (ROUNDS.load(Ordering::Relaxed), RETRIES.load(Ordering::Relaxed))
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
    reaper.add(fd);
}

fn start() -> Option<&'static Reaper> {
    let reaper: &'static Reaper = Box::leak(Box::new(Reaper::new().ok()?));
    std::thread::Builder::new().name("pidfd-reaper".into()).spawn(move || run(reaper)).ok()?;
    Some(reaper)
}

fn run(reaper: &'static Reaper) {
    let mut round = Round::new();
    loop {
        round.next(reaper);
    }
}

/// The reaper thread's state between two `epoll_wait`s.
pub(crate) struct Round {
    events: Box<[sys::Event]>,
    /// Entries whose exit someone else was collecting at the last look: asked again after
    /// `backoff`'s sleep whether or not their pidfd wakes.
    busy: Vec<u64>,
    backoff: Backoff,
    /// The keys a round asks about, kept between rounds (no allocation per wake-up).
    keys: Vec<u64>,
}

impl Round {
    pub(crate) fn new() -> Round {
        Round { events: sys::event_buffer(64), busy: Vec::new(), backoff: Backoff::exit(), keys: Vec::new() }
    }

    /// One round: waits for wake-ups (at most the busy retry's sleep when an entry is busy),
    /// then settles each woken or busy entry with `poll_exit`. Returns how many entries it
    /// asked about.
    pub(crate) fn next(&mut self, reaper: &Reaper) -> usize {
        let retrying = self.busy.len();
        let timeout = if retrying == 0 { -1 } else { self.backoff.next_ms() };
        let waited = reaper.epoll.wait(&mut self.events, timeout);
        ROUNDS.fetch_add(1, Ordering::Relaxed);
        let Ok(n) = waited else {
            // Cannot happen for a valid epoll fd and buffer; do not spin if it does.
            std::thread::sleep(std::time::Duration::from_millis(100));
            return 0;
        };
        RETRIES.fetch_add(retrying, Ordering::Relaxed);
        let keys = &mut self.keys;
        keys.clear();
        keys.extend(self.events[..n].iter().map(|ev| ev.u64));
        keys.append(&mut self.busy);
        keys.sort_unstable();
        keys.dedup();
        let mut entries = reaper.entries.lock().unwrap_or_else(|p| p.into_inner());
        for &key in keys.iter() {
            // An event of an item a closed fd's duplicate left behind has no entry: skipped.
            let Some(fd) = entries.0.get(&key) else { continue };
            match fd.poll_exit() {
                Ok(ExitPoll::Running) => {}
                Ok(ExitPoll::Busy) => self.busy.push(key),
                // Reaped now, or nothing left to wait for: dropping the pidfd closes it (and
                // with its last fd, its epoll item).
                _ => {
                    entries.0.remove(&key);
                }
            }
        }
        // The first sleep before the first retry, growing while the same wait stays busy.
        match (retrying, self.busy.is_empty()) {
            (_, true) | (0, false) => self.backoff.reset(),
            _ => self.backoff.grow(),
        }
        keys.len()
    }

    /// Whether `key` waits for a retry (someone else was collecting its exit).
    #[cfg(test)]
    pub(crate) fn is_busy(&self, key: u64) -> bool {
        self.busy.contains(&key)
    }
}
