//! The background reaper of dropped [`Child`](crate::Child)ren: one thread for the whole
//! process, started the first time a running child is dropped, so a drop never leaves a zombie.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::{Mutex, OnceLock};

use crate::{PidFd, sys};

struct Reaper {
    pending: Mutex<Vec<PidFd>>,
    wake: std::fs::File,
}

static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();

/// The pause after a readiness that was not an exit, doubling from the first to the second.
const MIN_BACKOFF: std::time::Duration = std::time::Duration::from_millis(1);
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// Hands a running child's pidfd to the reaper. If the reaper cannot start (no thread, no
/// pipe), the pidfd is dropped and the child stays a zombie until this process exits.
pub(crate) fn adopt(fd: PidFd) {
    let Some(reaper) = REAPER.get_or_init(start) else { return };
    reaper.pending.lock().unwrap_or_else(|p| p.into_inner()).push(fd);
    let _ = (&reaper.wake).write(&[1]);
}

fn start() -> Option<Reaper> {
    let (mut rx, wake) = sys::pipe().ok()?;
    std::thread::Builder::new()
        .name("pidfd-reaper".into())
        .spawn(move || {
            // Wait until the static is set (we were spawned from its initialiser).
            let reaper = loop {
                if let Some(Some(r)) = REAPER.get() {
                    break r;
                }
                std::thread::yield_now();
            };
            let mut backoff = MIN_BACKOFF;
            loop {
                let mut fds: Vec<(i32, bool)> = vec![(rx.as_raw_fd(), false)];
                fds.extend(
                    reaper.pending.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|p| (p.as_raw_fd(), false)),
                );
                if sys::poll_many(&mut fds, -1).is_err() {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    continue;
                }
                if fds[0].1 {
                    let _ = rx.read(&mut [0u8; 64]);
                }
                let ready: Vec<i32> = fds[1..].iter().filter(|(_, r)| *r).map(|(fd, _)| *fd).collect();
                let mut pending = reaper.pending.lock().unwrap_or_else(|p| p.into_inner());
                // A spurious readiness (try_wait says "not yet": a tracer holds the zombie)
                // keeps the child pending, and keeps its pidfd readable.
                pending.retain(|p| matches!(p.try_wait(), Ok(None)));
                let spurious = pending.iter().any(|p| ready.contains(&p.as_raw_fd()));
                drop(pending);
                // Polling again at once would return at once: back off (1 ms doubling to 50 ms)
                // until the readiness turns into an exit, instead of spinning.
                if spurious {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                } else {
                    backoff = MIN_BACKOFF;
                }
            }
        })
        .ok()?;
    Some(Reaper { pending: Mutex::new(Vec::new()), wake })
}
