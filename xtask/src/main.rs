//! The workspace's task runner: `cargo xtask <command>`.
//!
//! - `ci [--no-kernel-matrix]`: the whole gate (what `.ci/run` and the README run).
//! - `kernel-matrix [--kernel PATH]... [--only LABEL]...`: the test suite under real kernels in QEMU.
//! - `emulate --kernel 5.4 -- CMD...`: run a command as an older kernel would answer it (seccomp).
//! - `sanitizers [address|thread]...`: the library tests under ASan and TSan (nightly).
//! - `package`, `publish-dry-run`, `proof`, `msrv`, `minimal-versions`, `api [--bless]`: the
//!   gate's release steps alone (`release.rs`, `api.rs`).

mod api;
mod ci;
mod emulate;
mod matrix;
mod release;
mod sanitize;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::ci(&args[1..]),
        Some("kernel-matrix") => matrix::kernel_matrix(&args[1..]),
        Some("emulate") => emulate::emulate(&args[1..]),
        Some("sanitizers") => sanitize::sanitizers(&args[1..]),
        Some(cmd) if release::COMMANDS.contains(&cmd) => release::command(cmd, &args[1..]),
        _ => Err(format!(
            "usage: cargo xtask <ci|kernel-matrix|emulate|sanitizers|{}> [args]",
            release::COMMANDS.join("|")
        )),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e}");
        std::process::exit(1);
    }
}
