//! Compiler-version detection (the crate's MSRV is 1.85): `has_io_pipe` where std has
//! `std::io::pipe`, `PipeReader` and `PipeWriter` (Rust 1.87), for the conversions from them.

fn main() {
    autocfg::emit_possibility("has_io_pipe");
    let ac = autocfg::new();
    if ac.probe_path("std::io::PipeReader") {
        autocfg::emit("has_io_pipe");
    }
    autocfg::rerun_path("build.rs");
}
