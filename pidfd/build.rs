//! Detects what the compiler's std has beyond the MSRV, so newer conversions are there
//! when the compiler has them.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(has_io_pipe)");
    // `std::io::pipe` and its `PipeReader` / `PipeWriter`: Rust 1.87.
    if autocfg::new().probe_path("std::io::PipeReader") {
        println!("cargo::rustc-cfg=has_io_pipe");
    }
}
