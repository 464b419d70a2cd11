//! The fd-table checks shared by every crate's `tests/fds.rs`: run an operation many times and
//! compare the process's fd table before and after (nothing leaked), and list the fds a child
//! inherits (nothing the library opened crosses `exec`).

use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::Mutex;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time, for the whole test: another test's set-up would change the table.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// `n` on the host, `n / 100` (at least 3) under the kernel matrix.
pub fn iterations(n: usize) -> usize {
    if crate::require::under_matrix() { (n / 100).max(3) } else { n }
}

/// The fd table: each fd and what it names.
pub fn fd_table() -> BTreeMap<RawFd, String> {
    let mut table = BTreeMap::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap() {
        let e = e.unwrap();
        let fd: RawFd = e.file_name().to_str().unwrap().parse().unwrap();
        // The directory's own fd is gone by the time readlink runs.
        if let Ok(target) = std::fs::read_link(e.path()) {
            table.insert(fd, target.display().to_string());
        }
    }
    table
}

/// The fd table once it equals `want` (a background reaper may still hold a dropped child's
/// pidfd for a moment), or as it is after 10 s.
pub fn settled(want: &BTreeMap<RawFd, String>) -> BTreeMap<RawFd, String> {
    let mut now = fd_table();
    for _ in 0..1000 {
        if &now == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        now = fd_table();
    }
    now
}

/// The fd table once it has not changed for 50 ms (at most 10 s).
pub fn quiet() -> BTreeMap<RawFd, String> {
    let mut last = fd_table();
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(50));
        let now = fd_table();
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// Runs `body` once to warm up (first-use state: probes, a background reaper's thread, pipe or
/// epoll instance), then [`iterations`]`(n)` times, and checks the fd table is exactly as
/// before (once what the library hands to the background has been released, see
/// [`settled`]).
///
/// The caller holds [`serial`] for the whole test, set-up included.
pub fn leaves_no_fd(what: &str, n: usize, mut body: impl FnMut(usize)) {
    body(0);
    let before = quiet();
    let n = iterations(n);
    for i in 0..n {
        body(i);
    }
    let after = settled(&before);
    let extra: Vec<String> = after
        .iter()
        .filter(|(fd, target)| before.get(fd) != Some(target))
        .map(|(fd, target)| {
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
            format!(
                "{fd} -> {target} [{}]",
                info.lines().filter(|l| !l.starts_with("pos:")).collect::<Vec<_>>().join(" ")
            )
        })
        .collect();
    assert_eq!(after, before, "{what}: the fd table changed after {n} iterations; new: {extra:?}");
}

/// The fds a freshly exec'd program (`ls`) finds open, as it lists `/proc/self/fd`.
pub fn inherited() -> BTreeMap<RawFd, String> {
    let out = std::process::Command::new("ls").args(["-l", "/proc/self/fd/"]).output().expect("ls");
    assert!(out.status.success(), "ls: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.to_owned()))
        })
        .collect()
}
