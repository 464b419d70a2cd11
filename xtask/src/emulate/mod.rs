//! `cargo xtask emulate`: run a command so that this (newer) kernel answers
//! like an older one, or like a container's seccomp profile, as far as seccomp
//! can make it.
//!
//! ```text
//! cargo xtask emulate --kernel 5.4 -- cargo test -p pidfd
//! cargo xtask emulate --profile container-eperm -- target/debug/examples/features --kmatrix
//! cargo xtask emulate --kernel 5.10 --explain
//! ```
//!
//! The command runs under a seccomp filter (x86_64; `PR_SET_NO_NEW_PRIVS`,
//! then `SECCOMP_SET_MODE_FILTER`, installed in the child between fork and
//! exec, inherited by everything it starts), with `PIDFD_TEST_KERNEL` set to
//! the profile's label, `PIDFD_TEST_EXPECT` to the features the emulation
//! leaves present and `PIDFD_TEST_DENIED` to those it refuses (see
//! [`Profile::expectation`]).
//!
//! # `--kernel X.Y` (5.3 to 6.12)
//!
//! What the filter does by itself (register arguments only):
//! * syscalls newer than X.Y answer `ENOSYS`: `pidfd_getfd` (5.6),
//!   `process_madvise` (5.10), `process_mrelease` (5.15);
//! * newer flags answer `EINVAL`: `pidfd_open` flags other than
//!   `PIDFD_NONBLOCK` (5.10) and `PIDFD_THREAD` (6.9); `pidfd_send_signal`
//!   with any flag (scope flags are 6.9); `waitid(P_PIDFD)` (5.4);
//!   `clone(CLONE_PIDFD | CLONE_THREAD)` (6.9);
//! * the `PIDFD_SELF*` sentinels (-10000, -10001, -20000) answer `EBADF` in
//!   `pidfd_send_signal`, `process_madvise`, `process_mrelease` (6.15);
//!   `FD_PIDFS_ROOT` (-10002) in `open_by_handle_at` answers `EBADF` (6.17);
//! * pidfd ioctls (`ioctl` whose type byte is 0xFF and number 1 to 11) answer
//!   `ENOTTY` before 6.11; on 6.11/6.12 `PIDFD_GET_INFO` (number 11) answers
//!   `EINVAL` as those kernels do. (Any other driver's 0xFF-type ioctl with
//!   those numbers is hit too; none is known to matter.)
//! * `SO_PEERPIDFD` (getsockopt) and `SO_PASSPIDFD` (setsockopt) answer
//!   `ENOPROTOOPT` before 6.5.
//! * nsfs ioctls (type 0xB7) newer than X.Y answer `ENOTTY`: `NS_GET_MNTNS_ID`
//!   and the pid translations `NS_GET_{PID,TGID}_{FROM,IN}_PIDNS` (numbers 5 to
//!   9, 6.11), `NS_MNT_GET_{INFO,NEXT,PREV}` (10 to 12, 6.12), `NS_GET_ID` (13,
//!   6.18); `FD_NSFS_ROOT` (-10003) in `open_by_handle_at` answers `EBADF` (6.18).
//!
//! What needs the caller's memory or fd table goes to a supervisor thread in
//! the xtask through `SECCOMP_RET_USER_NOTIF`; it answers like the old kernel
//! would, or lets the host kernel carry on (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`):
//! * `clone3`: `struct clone_args` bigger than X.Y's (64 bytes before 5.5, 80
//!   before 5.7, then 88) with non-zero bytes past that size answers `E2BIG`,
//!   exactly like `copy_struct_from_user` (so `CLONE_INTO_CGROUP` cannot be
//!   used before 5.7, while glibc's 88-byte calls with zeroed tails still
//!   work); flags X.Y does not know (`CLONE_CLEAR_SIGHAND` 5.5,
//!   `CLONE_INTO_CGROUP` 5.7, the 7.1 flags) answer `EINVAL`, and so does
//!   `CLONE_PIDFD | CLONE_THREAD` before 6.9;
//! * `fstatfs` on a pidfd before 6.9 reports the anon_inode file system
//!   (`0x09041934`) instead of pidfs, so pidfs probes see no pidfs; `fstatfs`
//!   on any other fd is untouched;
//! * `setns` on a pidfd answers `EINVAL` before 5.8;
//! * `name_to_handle_at(pidfd, "", ..., AT_EMPTY_PATH)` answers `EOPNOTSUPP`
//!   before 6.14, and on a namespace fd before 6.18 (other file handles are
//!   untouched).
//!
//! What stays visible (seccomp cannot change results it does not produce):
//! `fstat`/`statx` of a pidfd (pidfs' unique inode numbers, 6.9), `statfs` on
//! a `/proc/<pid>/fd/N` path, fdinfo contents, `POLLHUP` on reaped pidfds
//! (6.9), and error codes that changed for existing calls (the 6.16
//! `ENOENT`/`ESRCH` split of `pidfd_open`, 7.0's `EREMOTE`). None of these is a
//! feature of `pidfd::features()`, so the expected set for `--kernel X.Y` is
//! exactly X.Y's features (intersected with the host's).
//!
//! # `--profile container-eperm`
//!
//! Old Docker/containerd profiles: `pidfd_open`, `pidfd_send_signal` and
//! `pidfd_getfd` answer `EPERM`; `clone3` answers `ENOSYS`, as Docker and
//! containerd still do without CAP_SYS_ADMIN. Everything else is the host's.
//!
//! The parts: [`profiles`] (what each profile is, and the filter rules it
//! installs), [`filter`] (the rules compiled to classic BPF), [`mod@spawn`] (a
//! command started under the filter), [`notify`] (the supervisor answering the
//! calls the filter hands over), [`expectations`] (what the test suite must
//! then see, in three states: present, denied, absent).

mod expectations;
mod filter;
mod notify;
mod profiles;
mod spawn;
#[cfg(test)]
mod tests;

pub(crate) use profiles::Profile;
pub(crate) use spawn::spawn;

use crate::matrix::config;
use filter::NOTIFY;
use std::process::Command;

const USAGE: &str = "\
usage: cargo xtask emulate (--kernel X.Y | --profile container-eperm) [--explain] -- COMMAND [ARGS...]

Runs COMMAND under a seccomp filter that makes this kernel answer like Linux X.Y
(5.3 to 6.12) or like an old container profile, with PIDFD_TEST_KERNEL,
PIDFD_TEST_EXPECT and PIDFD_TEST_DENIED set for the test suite. --explain prints
what is hidden.";

/// Human-readable summary of a profile, for `--explain`.
fn explain(profile: &Profile) -> String {
    let mut s = format!("{} ({}):\n", profile.label(), profile.args());
    for r in profile.rules() {
        let action = match r.action {
            NOTIFY => "supervisor decides".to_owned(),
            a if a & 0xffff_0000 == 0x0005_0000 => {
                format!("errno {}", std::io::Error::from_raw_os_error((a & 0xffff) as i32))
            }
            a => format!("action {a:#x}"),
        };
        s.push_str(&format!("  syscall {:3} {:?} -> {action}\n", r.nr, r.atoms));
    }
    s
}

/// Entry point of `cargo xtask emulate`.
pub(crate) fn emulate(args: &[String]) -> Result<(), String> {
    let mut kernel = None;
    let mut profile = None;
    let mut explain_only = false;
    let mut it = args.iter();
    let mut command = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kernel" => kernel = Some(it.next().ok_or("--kernel needs a version")?.clone()),
            "--profile" => profile = Some(it.next().ok_or("--profile needs a name")?.clone()),
            "--explain" => explain_only = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--" => {
                command.extend(it.by_ref().cloned());
            }
            other => return Err(format!("unknown argument {other}\n\n{USAGE}")),
        }
    }
    let profile = Profile::parse(kernel.as_deref(), profile.as_deref())?;
    let cfg = config::load()?;
    let host = crate::matrix::host_version()?;
    let expected = profile.expectation(&cfg, host);
    if explain_only {
        print!("{}", explain(&profile));
        println!(
            "PIDFD_TEST_KERNEL={}\nPIDFD_TEST_EXPECT={}\nPIDFD_TEST_DENIED={}",
            profile.label(),
            expected.present.join(","),
            expected.denied.join(",")
        );
        return Ok(());
    }
    let (program, rest) = command.split_first().ok_or_else(|| format!("no command given\n\n{USAGE}"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env("PIDFD_TEST_KERNEL", profile.label())
        .env("PIDFD_TEST_EXPECT", expected.present.join(","))
        .env("PIDFD_TEST_DENIED", expected.denied.join(","));
    let mut em = spawn(&profile, cmd)?;
    let status = em.child_mut().wait().map_err(|e| format!("waiting for {program}: {e}"))?;
    em.finish();
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` under {} exited with {status}", command.join(" "), profile.label()))
    }
}
