//! [`Sampler`]: whether a thread sleeps or spins, told by its scheduler state rather than by a
//! duration (which a loaded machine stretches). Shared by the tests of `pidfd` and
//! `pidfd-async`.

use std::time::Duration;

/// Samples one thread's scheduler state (`/proc/self/task/<tid>/stat`) every 2 ms, from another
/// thread, until finished: how often it was runnable (`R`: running or waiting for a CPU) and how
/// often asleep. A thread that waits in `poll` or sleeps between attempts is asleep at nearly
/// every sample, however loaded the machine; a busy loop is runnable at every one. So the test
/// asserts on what the waiter did, not on a duration a busy machine would stretch.
pub struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<(u32, u32)>,
}

impl Sampler {
    /// Starts sampling thread `tid` of this process.
    pub fn start(tid: i32) -> Sampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = std::sync::Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let (mut runnable, mut asleep) = (0, 0);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                match thread_state(tid) {
                    Some('R') => runnable += 1,
                    Some(_) => asleep += 1,
                    None => break,
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (runnable, asleep)
        });
        Sampler { stop, handle }
    }

    /// Stops sampling; fails the test if the thread was runnable at more than a quarter of at
    /// least 5 samples.
    pub fn assert_mostly_asleep(self, what: &str) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (runnable, asleep) = self.handle.join().unwrap();
        let total = runnable + asleep;
        assert!(total >= 5, "{what}: only {total} samples");
        assert!(runnable * 4 <= total, "{what}: runnable at {runnable} of {total} samples: a busy loop");
        eprintln!("{what}: runnable at {runnable} of {total} samples");
    }
}

/// The state letter of thread `tid` of this process (`None` once it is gone).
pub fn thread_state(tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}
