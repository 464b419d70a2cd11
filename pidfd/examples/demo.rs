//! The workspace's main demo: spawn a process race-free, show what the kernel tells about it
//! through its pidfd, signal it, reap it.
//!
//! `cargo run -p pidfd --example demo`

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use pidfd::{Feature, SignalScope};

fn main() -> Result<(), pidfd::Error> {
    println!("kernel capabilities (probed, not read from uname):\n");
    println!("{}", pidfd::features());

    let mut cmd = Command::new("sleep");
    cmd.arg("60");
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let (mut child, fd) = pidfd::spawn(&mut cmd)?;
    println!("spawned `sleep 60` race-free as pid {} (the pidfd names it for its whole life)", fd.pid()?);
    println!("  parent pid:   {}", fd.ppid()?);
    let c = fd.credentials()?;
    println!(
        "  credentials:  uid {}/{}/{}/{} gid {}/{}/{}/{}",
        c.ruid, c.euid, c.suid, c.fsuid, c.rgid, c.egid, c.sgid, c.fsgid
    );
    match fd.cgroup_id() {
        Ok(id) => println!("  cgroup id:    {id}"),
        Err(e) => println!("  cgroup id:    {e}"),
    }
    match fd.id() {
        Ok(id) => println!("  unique id:    {id} (never reused until reboot)"),
        Err(e) => println!("  unique id:    {e}"),
    }
    let comm = fd.access_proc(|dir| dir.read_to_string("comm"))?;
    println!("  /proc comm:   {} (read only if the pidfd still names it afterwards)", comm.unwrap_or_default().trim());
    if Feature::GetInfo.is_supported() {
        let info = fd.info()?;
        println!("  info mask:    {:#x} (what PIDFD_GET_INFO returned)", info.mask());
    }
    println!("  running?      try_wait says {:?}", fd.try_wait()?);

    println!("sending SIGTERM to its whole process group");
    fd.send_signal_to(libc::SIGTERM, SignalScope::ProcessGroup)?;
    let status = fd.wait()?;
    println!("reaped: {status} (signal {:?}, core dumped: {})", status.signal(), status.core_dumped());
    if Feature::InfoExit.is_supported() {
        println!("the kernel keeps it for anyone holding the pidfd: {:?}", fd.exit_status()?);
    }
    let _ = child.try_wait();
    Ok(())
}
