//! The workspace's main demo, `cargo run -p pidfd-demo`: what a supervisor does with pidfds.
//!
//! 1. Ask the kernel what it has (probed, never read from `uname`).
//! 2. Spawn a worker race-free at vfork speed (`pidfd::Command`): the pidfd comes from the
//!    kernel at creation, so no PID can be recycled in between. The worker leads a process
//!    group and starts two helpers of its own.
//! 3. Show what the kernel tells about it through the pidfd: pid, parent, credentials, cgroup,
//!    the unique id, its `/proc` entry read race-free, and its namespaces (`pidfd-ns`).
//! 4. Wait for it on a tokio runtime (`pidfd-async`); a timeout in between loses nothing.
//! 5. Stop the whole process group with one signal through the pidfd, and reap.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use pidfd::{Feature, SignalScope};
use pidfd_async::AsyncPidFd;
use pidfd_ns::{Namespace, NsFd, PidFdNsExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", pidfd::features());

    let child = pidfd::Command::new("sh").args(["-c", "sleep 60 & sleep 60 & wait"]).process_group(0).spawn()?;
    let fd = child.pidfd();
    println!("spawned a worker race-free as pid {} (its pidfd names it for its whole life)", fd.pid()?);
    println!("  parent pid    {}", fd.ppid()?);
    let c = fd.credentials()?;
    println!(
        "  credentials   uid {}/{}/{}/{} gid {}/{}/{}/{}",
        c.ruid, c.euid, c.suid, c.fsuid, c.rgid, c.egid, c.sgid, c.fsgid
    );
    show("  cgroup id    ", fd.cgroup_id());
    show("  unique id    ", fd.id());
    let comm = fd.access_proc(|dir| dir.read_to_string("comm"))?;
    println!("  /proc comm    {} (kept only because the pidfd still names it afterwards)", comm?.trim());

    println!("  namespaces    (its own, through the pidfd; `=` shared with this demo)");
    for ns in [Namespace::User, Namespace::Pid, Namespace::Net, Namespace::Mount, Namespace::Uts, Namespace::Cgroup] {
        match fd.namespace(ns) {
            Ok(theirs) => {
                let same = NsFd::of_current_thread(ns).and_then(|mine| mine.is_same_namespace(&theirs));
                println!(
                    "    {:<7} {:>12} {}",
                    ns.proc_name(),
                    theirs.id()?,
                    if same.unwrap_or(false) { "=" } else { "" }
                );
            }
            Err(e) => println!("    {:<7} {e}", ns.proc_name()),
        }
    }

    // The pidfd moves to the async layer, which waits without blocking the runtime's thread.
    let worker = AsyncPidFd::new(child.into_pidfd())?;
    let fd = worker.pidfd();
    let early = tokio::time::timeout(Duration::from_millis(200), worker.wait()).await;
    println!("after 200 ms the worker still runs: the wait timed out ({}), and nothing is lost", early.is_err());

    println!("stopping its whole process group (the worker and both helpers) with SIGTERM");
    match fd.send_signal_to(libc::SIGTERM, SignalScope::ProcessGroup) {
        Ok(()) => {}
        Err(e) => {
            println!("  process-group signal refused ({e}); signalling the worker alone");
            fd.send_signal(libc::SIGTERM)?;
        }
    }
    let status = worker.wait().await?;
    println!("reaped asynchronously: {status} (signal {:?}, core dumped: {})", status.signal(), status.core_dumped());
    assert_eq!(worker.wait().await?, status, "every later wait gives the same status");
    if Feature::InfoExit.is_supported() {
        println!("anyone holding the pidfd can still read it from the kernel: {:?}", fd.exit_status()?);
    }
    Ok(())
}

fn show<T: std::fmt::Display>(label: &str, value: pidfd::Result<T>) {
    match value {
        Ok(v) => println!("{label} {v}"),
        Err(e) => println!("{label} {e}"),
    }
}
