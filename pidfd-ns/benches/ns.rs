//! Paired A/B timings: the namespace getter against the raw ioctl, the `/proc` fallback
//! against a raw `open`, and `NsFd::id` against a raw `fstat`.
//!
//! Each comparison runs 201 rounds; a round times ~2 ms of A and ~2 ms of B, interleaved as
//! ten sub-blocks each (ABAB..., the order alternating per round, so a load change on the
//! machine hits both sides), and the ratio A/B of that round's per-call times is kept. Reported: the median ratio with p10 and p90, and the median ns per call of each side.
//! Run with `cargo bench -p pidfd-ns --features __bench-internals`.

use std::ffi::CString;
use std::hint::black_box;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use pidfd::{Feature, PidFd};
use pidfd_ns::{Namespace, PidFdNsExt};

const ROUNDS: usize = 201;
const BLOCK: Duration = Duration::from_millis(2);
const SUB_BLOCKS: u32 = 10;

/// Calls `f` until `BLOCK` has passed once, to find how many calls a block holds.
fn calibrate(f: &mut dyn FnMut()) -> u32 {
    for _ in 0..1000 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < BLOCK {
        f();
        n += 1;
    }
    (n / SUB_BLOCKS).max(1)
}

fn time_block(f: &mut dyn FnMut(), n: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn pair(name: &str, a: &mut dyn FnMut(), b: &mut dyn FnMut(), target: Option<f64>) {
    let (na, nb) = (calibrate(a), calibrate(b));
    let (mut ratios, mut ta, mut tb) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (mut da, mut db) = (Duration::ZERO, Duration::ZERO);
        for sub in 0..SUB_BLOCKS {
            if (round as u32 + sub) % 2 == 0 {
                da += time_block(a, na);
                db += time_block(b, nb);
            } else {
                db += time_block(b, nb);
                da += time_block(a, na);
            }
        }
        let x = da.as_nanos() as f64 / f64::from(na * SUB_BLOCKS);
        let y = db.as_nanos() as f64 / f64::from(nb * SUB_BLOCKS);
        ratios.push(x / y);
        ta.push(x);
        tb.push(y);
    }
    for v in [&mut ratios, &mut ta, &mut tb] {
        v.sort_by(f64::total_cmp);
    }
    let median = percentile(&ratios, 0.5);
    let verdict = match target {
        Some(t) if median <= t => format!("  (target <= {t:.2}: met)"),
        Some(t) => format!("  (target <= {t:.2}: MISSED)"),
        None => String::new(),
    };
    println!(
        "{name:<46} ratio {median:.3} [p10 {:.3}, p90 {:.3}]  A {:.0} ns, B {:.0} ns{verdict}",
        percentile(&ratios, 0.1),
        percentile(&ratios, 0.9),
        percentile(&ta, 0.5),
        percentile(&tb, 0.5),
    );
}

fn raw_ioctl_net(fd: i32) {
    // SAFETY: PIDFD_GET_NET_NAMESPACE takes an integer argument, 0; the fd it returns is
    // closed at once.
    unsafe {
        let ns = libc::ioctl(fd, pidfd_sys::PIDFD_GET_NET_NAMESPACE as _, 0 as libc::c_ulong);
        assert!(ns >= 0, "raw ioctl: {}", std::io::Error::last_os_error());
        libc::close(ns);
    }
}

fn raw_open(path: &CString) {
    // SAFETY: `path` is NUL-terminated; the fd is closed at once.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        assert!(fd >= 0, "raw open: {}", std::io::Error::last_os_error());
        libc::close(fd);
    }
}

fn raw_fstat(fd: i32) -> u64 {
    let mut st = std::mem::MaybeUninit::<libc::stat64>::uninit();
    // SAFETY: `st` is writable; it is read only after fstat64 succeeded.
    unsafe {
        assert_eq!(libc::fstat64(fd, st.as_mut_ptr()), 0);
        st.assume_init().st_ino
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let me = PidFd::from_self().unwrap();
    let raw = me.as_raw_fd();
    println!("pidfd-ns bench: {ROUNDS} rounds of paired ~{BLOCK:?} blocks, ratio = A / B per round");
    if Feature::NamespaceIoctls.is_supported() {
        pair(
            "namespace(Net) + drop / raw ioctl + close",
            &mut || drop(black_box(me.namespace(black_box(Namespace::Net)).unwrap())),
            &mut || raw_ioctl_net(black_box(raw)),
            Some(1.10),
        );
    } else {
        println!("skipped the ioctl pair: the kernel lacks {}", Feature::NamespaceIoctls);
    }
    let path = CString::new(format!("/proc/{}/ns/net", std::process::id())).unwrap();
    pair(
        "/proc fallback (re-checked) / raw open + close",
        &mut || drop(black_box(pidfd_ns::__bench::proc_namespace(&me, black_box(Namespace::Net)).unwrap())),
        &mut || raw_open(black_box(&path)),
        None,
    );
    let net = me.namespace(Namespace::Net).unwrap();
    let net_raw = net.as_raw_fd();
    pair(
        "NsFd::id / raw fstat",
        &mut || {
            black_box(net.id().unwrap());
        },
        &mut || {
            black_box(raw_fstat(black_box(net_raw)));
        },
        Some(1.10),
    );
}
