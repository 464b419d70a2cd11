use pidfd::PidFd;

// The matrix's feature contract, shared by every crate's tests.
#[allow(unused_imports)]
pub(crate) use test_support::require::*;

/// A current-thread runtime with I/O and timers.
pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A multi-thread runtime with two workers.
pub(crate) fn rt_mt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// `sh -c script`, spawned race-free with [`pidfd::Command`] (no `pidfd_open` needed): its
/// pidfd.
pub(crate) fn sh(script: &str) -> PidFd {
    pidfd::Command::new("sh").args(["-c", script]).spawn().expect("spawn sh").into_pidfd()
}

/// Whether the process behind `fd` has been reaped (by anyone): its pid is gone.
pub(crate) fn reaped(fd: &PidFd) -> bool {
    matches!(fd.pid(), Err(pidfd::Error::Exited))
}

/// A waker that only records that it was woken: poll a future with it to see its wake-up
/// arrive without the future running again.
#[derive(Default)]
pub(crate) struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Flag {
    /// A new flag and the waker that sets it.
    pub(crate) fn waker() -> (std::sync::Arc<Flag>, std::task::Waker) {
        let flag = std::sync::Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
        (std::sync::Arc::clone(&flag), std::task::Waker::from(flag))
    }

    pub(crate) fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Lets the runtime run (its reactor dispatches wake-ups) until the flag is set; panics
    /// after `limit` (a hang guard, not a timing claim).
    pub(crate) async fn until_set(&self, limit: std::time::Duration, what: &str) {
        let start = std::time::Instant::now();
        while !self.is_set() {
            assert!(start.elapsed() < limit, "no wake-up after {limit:?}: {what}");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

/// Polls `f` once with `waker`; `Some` if it completed.
pub(crate) fn poll_with<F: std::future::Future>(
    f: std::pin::Pin<&mut F>,
    waker: &std::task::Waker,
) -> Option<F::Output> {
    match f.poll(&mut std::task::Context::from_waker(waker)) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// `sh -c 'read x; exit <code>'` with stdin from a pipe: it exits only when the returned write
/// end is written to or closed. Spawned with [`pidfd::Command`] (no `pidfd_open` needed).
pub(crate) fn held(code: i32) -> (PidFd, std::fs::File) {
    let (r, w) = test_support::pipe();
    let child = pidfd::Command::new("sh")
        .args(["-c", &format!("read x; exit {code}")])
        .stdin(pidfd::Stdio::Fd(r.into()))
        .spawn()
        .expect("spawn sh");
    (child.into_pidfd(), w)
}
