use pidfd::{Feature, PidFd, Support};

/// A comma-separated list from the environment, `None` when the variable is unset.
fn env_list(var: &str) -> Option<Vec<String>> {
    std::env::var(var).ok().map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
}

/// The features the kernel under test must have, if the kernel matrix said so.
pub(crate) fn expected() -> Option<Vec<String>> {
    env_list("PIDFD_TEST_EXPECT")
}

/// Whether the test runs under the kernel matrix (`PIDFD_TEST_EXPECT` set: a small VM, maybe
/// emulated, or a host row under a seccomp profile), where counts are scaled down.
pub(crate) fn under_matrix() -> bool {
    expected().is_some()
}

/// The features whose probe a seccomp profile of the kernel matrix refuses
/// (`PIDFD_TEST_DENIED`; empty for a real kernel or outside the matrix).
pub(crate) fn denied() -> Vec<String> {
    env_list("PIDFD_TEST_DENIED").unwrap_or_default()
}

/// Whether to run a test that needs `f`; the same rules as `pidfd`'s tests. Prints why it
/// skips. Under the kernel matrix (`PIDFD_TEST_EXPECT` set) it panics instead when the probe
/// disagrees with the row: the kernel should have `f` but the probe says it has not, or the
/// probe says `f` is denied by a policy and `PIDFD_TEST_DENIED` does not list it (or lists it,
/// and the probe says otherwise).
pub(crate) fn require(f: Feature) -> bool {
    let support = f.support();
    if support == Support::Supported {
        return true;
    }
    let kernel = std::env::var("PIDFD_TEST_KERNEL").unwrap_or_default();
    let listed = denied().iter().any(|d| d == f.name());
    if let Support::Denied { .. } = support {
        if listed {
            eprintln!("skipped: {f} is denied by policy on {kernel} (PIDFD_TEST_DENIED lists {}): {support}", f.name());
            return false;
        }
        assert!(
            expected().is_none(),
            "kernel {kernel}: the probe says {} ({f}) is {support}, but PIDFD_TEST_DENIED does not list it",
            f.name()
        );
        eprintln!("skipped: {f} is denied by a security policy here (seccomp, LSM or container): {support}");
        return false;
    }
    if let Some(exp) = expected() {
        assert!(
            !exp.iter().any(|e| e == f.name()),
            "kernel {kernel} must have {} ({f}), but the probe says {support}",
            f.name()
        );
        assert!(!listed, "kernel {kernel}: {} ({f}) must be denied by policy, but the probe says {support}", f.name());
    }
    eprintln!("skipped: the running kernel lacks {f} (Linux {}+): {support}", f.since());
    false
}

/// [`require`] for every feature of `fs` (each is checked; all must be there).
pub(crate) fn require_all(fs: &[Feature]) -> bool {
    fs.iter().filter(|&&f| !require(f)).count() == 0
}

/// A pidfd of this process (`pidfd_open`), or `None` (the test skips, see [`require`]).
pub(crate) fn self_pidfd() -> Option<PidFd> {
    require(Feature::PidfdOpen).then(|| PidFd::from_self().unwrap())
}

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
pub(crate) fn held(code: i32) -> (PidFd, std::io::PipeWriter) {
    let (r, w) = std::io::pipe().unwrap();
    let child = pidfd::Command::new("sh")
        .args(["-c", &format!("read x; exit {code}")])
        .stdin(pidfd::Stdio::Fd(r.into()))
        .spawn()
        .expect("spawn sh");
    (child.into_pidfd(), w)
}
