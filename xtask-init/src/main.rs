//! PID 1 of the kernel matrix's virtual machines.
//!
//! `cargo xtask kernel-matrix` packs this program (built statically for the
//! row's architecture: musl, or glibc where rustup has no musl std) as `/init` into an initramfs together with the
//! workspace's test binaries under `/tests`, `/bin/features` and busybox. It:
//!
//! 1. mounts proc, sysfs, devtmpfs, tmpfs on `/tmp` and cgroup2;
//! 2. points fds 0 to 2 at `/dev/console`;
//! 3. reads `kmatrix.*` parameters from `/proc/cmdline`;
//! 4. runs `/bin/features --kmatrix`, then every `/tests/*` binary, with
//!    `PIDFD_TEST_KERNEL` and `PIDFD_TEST_EXPECT` set;
//! 5. prints `KMATRIX-BEGIN`, `KMATRIX-EXIT <name> status=N secs=S` per program and
//!    `KMATRIX-DONE rc=N`, drains the console and leaves through QEMU's
//!    `isa-debug-exit` device on x86 (power-off elsewhere, and as the last resort).
//!
//! Kernel parameters read (all optional):
//! `kmatrix.kernel=LABEL`, `kmatrix.expect=a,b,c`, `kmatrix.threads=N`
//! (libtest `--test-threads`, default 2), `kmatrix.timeout=SECS` (per binary,
//! default 300), `kmatrix.args=a,b` (extra libtest arguments).

use std::ffi::CString;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// Parameters of one run, from the kernel command line.
struct Params {
    /// `PIDFD_TEST_KERNEL`.
    kernel: String,
    /// `PIDFD_TEST_EXPECT`.
    expect: String,
    /// libtest `--test-threads`.
    threads: String,
    /// Per-binary time limit.
    timeout: Duration,
    /// Extra libtest arguments.
    args: Vec<String>,
}

fn main() {
    mount_all();
    console_stdio();
    // SAFETY: umask has no memory-safety preconditions.
    unsafe { libc::umask(0o022) };
    let params = read_params();
    let rc = run_all(&params);
    println!("KMATRIX-DONE rc={rc}");
    leave(rc);
}

/// Mounts one file system, creating the mount point; reports failures.
fn mount(source: &str, target: &str, fstype: &str, flags: libc::c_ulong, data: &str) {
    let _ = std::fs::create_dir_all(target);
    let c = |s: &str| CString::new(s).expect("no NUL in mount arguments");
    let (src, tgt, fst, dat) = (c(source), c(target), c(fstype), c(data));
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
    let r = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fst.as_ptr(), flags, dat.as_ptr().cast()) };
    if r != 0 {
        let err = std::io::Error::last_os_error();
        // EBUSY: already mounted (devtmpfs with DEVTMPFS_MOUNT=y).
        if err.raw_os_error() != Some(libc::EBUSY) {
            eprintln!("kmatrix-init: mount {fstype} on {target}: {err}");
        }
    }
}

fn mount_all() {
    let nosuid_nodev_noexec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount("proc", "/proc", "proc", nosuid_nodev_noexec, "");
    mount("sysfs", "/sys", "sysfs", nosuid_nodev_noexec, "");
    mount("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID, "mode=0755");
    mount("tmpfs", "/tmp", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, "mode=1777");
    mount("tmpfs", "/dev/shm", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, "mode=1777");
    mount("devpts", "/dev/pts", "devpts", libc::MS_NOSUID | libc::MS_NOEXEC, "");
    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", nosuid_nodev_noexec, "");
}

/// Points fds 0, 1 and 2 at `/dev/console`.
fn console_stdio() {
    let path = c"/dev/console";
    // SAFETY: `path` is a valid NUL-terminated string.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
    if fd < 0 {
        return; // keep what the kernel gave us
    }
    for target in 0..3 {
        if fd != target {
            // SAFETY: dup2 on an fd we own; the targets are the standard fds.
            unsafe { libc::dup2(fd, target) };
        }
    }
    if fd > 2 {
        // SAFETY: `fd` is ours and no longer needed.
        unsafe { libc::close(fd) };
    }
}

fn read_params() -> Params {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let mut p = Params {
        kernel: "unknown".to_owned(),
        expect: String::new(),
        threads: "2".to_owned(),
        timeout: Duration::from_secs(300),
        args: Vec::new(),
    };
    for word in cmdline.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        match key {
            "kmatrix.kernel" => p.kernel = value.to_owned(),
            "kmatrix.expect" => p.expect = value.to_owned(),
            "kmatrix.threads" => p.threads = value.to_owned(),
            "kmatrix.timeout" => {
                if let Ok(secs) = value.parse() {
                    p.timeout = Duration::from_secs(secs);
                }
            }
            "kmatrix.args" => {
                p.args = value.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect();
            }
            _ => {}
        }
    }
    p
}

/// Runs `/bin/features` and the test binaries; returns the overall rc.
fn run_all(p: &Params) -> i32 {
    let uptime = || {
        std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default()
    };
    println!("KMATRIX-BEGIN kernel={} uptime={}", p.kernel, uptime());
    let mut rc = 0;
    if Path::new("/bin/features").exists() {
        let status = run_one("features", "/bin/features", &["--kmatrix".to_owned()], p);
        if status != 0 {
            rc = 1;
        }
    }
    let mut tests: Vec<_> =
        std::fs::read_dir("/tests").map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    tests.sort();
    // `--report-time` (per-test durations in the log) is a libtest option that needs
    // RUSTC_BOOTSTRAP (set by run_one); it keeps the matrix's time budget visible.
    let mut args = vec![format!("--test-threads={}", p.threads), "-Zunstable-options".into(), "--report-time".into()];
    args.extend(p.args.iter().cloned());
    for path in &tests {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if run_one(&name, &path.to_string_lossy(), &args, p) != 0 {
            rc = 1;
        }
    }
    println!("KMATRIX-UPTIME {}", uptime());
    rc
}

/// Runs one program to completion (or its time limit); returns its status code
/// as printed (`128 + signal` for a signal, 124 for a timeout).
fn run_one(name: &str, path: &str, args: &[String], p: &Params) -> i32 {
    let _ = std::io::stdout().flush();
    let child = Command::new(path)
        .args(args)
        .current_dir("/tmp")
        .env("PIDFD_TEST_KERNEL", &p.kernel)
        .env("PIDFD_TEST_EXPECT", &p.expect)
        .env("PATH", "/bin:/sbin:/usr/bin:/usr/sbin")
        .env("HOME", "/tmp")
        .env("TMPDIR", "/tmp")
        .env("RUST_BACKTRACE", "1")
        .env("RUSTC_BOOTSTRAP", "1")
        .spawn();
    let started = Instant::now();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!("kmatrix-init: cannot run {path}: {e}");
            println!("KMATRIX-EXIT {name} status=127");
            return 127;
        }
    };
    let deadline = Instant::now() + p.timeout;
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status_code(status),
            Ok(None) if Instant::now() >= deadline => {
                println!("kmatrix-init: {name} timed out after {:?}; what every task was doing:", p.timeout);
                dump_tasks();
                let _ = child.kill();
                let _ = child.wait();
                break 124;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                println!("kmatrix-init: wait for {name}: {e}");
                break 125;
            }
        }
    };
    reap_orphans();
    println!("KMATRIX-EXIT {name} status={code} secs={:.1}", started.elapsed().as_secs_f64());
    code
}

/// Prints every task of every process (`pid/tid state wchan syscall comm`): the diagnosis of a
/// hang, read from `/proc` before the hung binary is killed.
fn dump_tasks() {
    let read = |path: String| std::fs::read_to_string(path).unwrap_or_default().trim().to_owned();
    let numbers = |dir: &str| -> Vec<u32> {
        let mut v: Vec<u32> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    };
    for pid in numbers("/proc") {
        for tid in numbers(&format!("/proc/{pid}/task")) {
            let t = format!("/proc/{pid}/task/{tid}");
            let stat = read(format!("{t}/stat"));
            // `pid (comm) S ppid ...`: the state follows the last ')'.
            let (comm, rest) = match (stat.find('('), stat.rfind(')')) {
                (Some(a), Some(b)) if a < b => (&stat[a + 1..b], stat[b + 1..].trim()),
                _ => ("?", ""),
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next().unwrap_or("?");
            let ppid = fields.next().unwrap_or("?");
            let wchan = read(format!("{t}/wchan"));
            let syscall = read(format!("{t}/syscall"));
            let syscall = syscall.split_whitespace().next().unwrap_or("");
            println!("kmatrix-init:   {pid}/{tid} ppid {ppid} {state} wchan={wchan} syscall={syscall} {comm}");
        }
    }
}

fn status_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 255,
    }
}

/// As PID 1 we inherit every orphan: reap the ones that already exited.
fn reap_orphans() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            break;
        }
    }
}

/// Drains the console, then exits QEMU with `rc` through `isa-debug-exit`
/// (QEMU's status becomes `rc << 1 | 1`); powers off if that device is absent.
fn leave(rc: i32) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: sync and tcdrain have no memory-safety preconditions.
    unsafe {
        libc::sync();
        libc::tcdrain(1);
    }
    isa_debug_exit(if rc == 0 { 0 } else { 1 });
    // SAFETY: reboot with a valid command; we are PID 1 and want to stop.
    unsafe { libc::reboot(libc::RB_POWER_OFF) };
    loop {
        // SAFETY: pause has no preconditions.
        unsafe { libc::pause() };
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn isa_debug_exit(value: u8) {
    const PORT: u16 = 0xf4;
    // SAFETY: ioperm only changes this process's I/O permission bitmap.
    let r = unsafe { libc::syscall(libc::SYS_ioperm, libc::c_ulong::from(PORT), 4, 1) };
    if r != 0 {
        return;
    }
    // SAFETY: ioperm granted access to the port; writing isa-debug-exit's port
    // ends the VM and touches no memory. Without the device the write is ignored.
    unsafe {
        std::arch::asm!("out dx, al", in("dx") PORT, in("al") value, options(nomem, nostack));
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "x86")))]
fn isa_debug_exit(_value: u8) {}
