//! A process supervisor on one [`ExitSet`]: start a group of workers, restart the ones that
//! die, and on Ctrl-C stop them all through their process groups.
//!
//! ```text
//! cargo run -p pidfd-async --example supervisor            # stop with Ctrl-C
//! SUPERVISOR_DEMO_SECS=5 cargo run -p pidfd-async --example supervisor   # sends itself SIGINT after 5 s
//! ```
//!
//! Each worker is a small shell loop that starts a `sleep` child and, now and then, crashes.
//! Each leads its own process group (`process_group(0)`), so stopping a worker's group also
//! stops what the worker started. Signals go through the worker's pidfd
//! (`PIDFD_SIGNAL_PROCESS_GROUP` on 6.9+, `killpg` after a liveness check before that), so a
//! recycled pid is never signalled. One epoll registration serves all workers; no thread or
//! task per worker.

use std::os::unix::process::ExitStatusExt;
use std::pin::pin;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use pidfd::{Command, PidFd};
use pidfd_async::ExitSet;

/// How many workers run at once.
const WORKERS: u32 = 4;
/// A worker restarted this many times within [`WINDOW`] is given up on.
const MAX_RESTARTS: usize = 5;
const WINDOW: Duration = Duration::from_secs(10);
/// How long the workers get to exit after `SIGTERM`, before `SIGKILL`.
const GRACE: Duration = Duration::from_secs(2);

/// Worker `k` lives `k + 1` seconds, then crashes with status 3.
fn start(k: u32) -> std::io::Result<PidFd> {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo \"worker $0 up (pid $$)\"; sleep $1; echo \"worker $0 crashes\"; exit 3"])
        .arg(k.to_string())
        .arg((k + 1).to_string())
        .process_group(0);
    Ok(cmd.spawn()?.into_pidfd())
}

fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (_, Some(sig)) => format!("signal {sig}"),
        _ => format!("{status:?}"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut workers = ExitSet::new()?;
    let mut restarts: Vec<Vec<Instant>> = vec![Vec::new(); WORKERS as usize];
    for k in 0..WORKERS {
        workers.insert(k, start(k)?)?;
    }
    println!("supervisor: {WORKERS} workers started; Ctrl-C stops them");

    // For demos and tests: deliver the Ctrl-C ourselves after a while.
    if let Some(secs) = std::env::var("SUPERVISOR_DEMO_SECS").ok().and_then(|s| s.parse().ok()) {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            println!("supervisor: demo over, sending myself SIGINT");
            let _ = PidFd::from_self().and_then(|me| me.send_signal(libc::SIGINT));
        });
    }

    let mut ctrl_c = pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            // `next` is cancellation-safe: an exit that loses the race to Ctrl-C is reported
            // by the drain below.
            Some((k, status)) = workers.next() => {
                let status = status?;
                let recent = &mut restarts[k as usize];
                recent.retain(|t| t.elapsed() < WINDOW);
                if recent.len() >= MAX_RESTARTS {
                    println!("supervisor: worker {k} died ({}) {MAX_RESTARTS} times in {WINDOW:?}; giving up on it", describe(&status));
                } else {
                    recent.push(Instant::now());
                    println!("supervisor: worker {k} died ({}); restarting", describe(&status));
                    workers.insert(k, start(k)?)?;
                }
                if workers.is_empty() {
                    println!("supervisor: no workers left");
                    return Ok(());
                }
            }
            r = &mut ctrl_c => {
                r?;
                break;
            }
        }
    }

    println!("supervisor: stopping {} workers", workers.len());
    for (_, k, fd) in workers.iter() {
        // A worker that died meanwhile is reported by the drain, not signalled.
        if let Err(e) = fd.signal_process_group(libc::SIGTERM) {
            println!("supervisor: worker {k}: {e}");
        }
    }
    let deadline = tokio::time::Instant::now() + GRACE;
    while let Ok(Some((k, status))) = tokio::time::timeout_at(deadline, workers.next()).await {
        println!("supervisor: worker {k} stopped ({})", describe(&status?));
    }
    if !workers.is_empty() {
        for (_, k, fd) in workers.iter() {
            println!("supervisor: worker {k} ignored SIGTERM; killing its group");
            let _ = fd.signal_process_group(libc::SIGKILL);
        }
        while let Some((k, status)) = workers.next().await {
            println!("supervisor: worker {k} killed ({})", describe(&status?));
        }
    }
    println!("supervisor: all workers stopped");
    Ok(())
}
