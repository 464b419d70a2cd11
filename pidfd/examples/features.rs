//! Prints what the running kernel supports and how each operation will be carried out.
//!
//! `cargo run -p pidfd --example features` for the table; `-- --kmatrix` for the kernel
//! matrix's machine-readable lines.

fn main() {
    let report = pidfd::features();
    if std::env::args().any(|a| a == "--kmatrix") {
        print!("{}", report.kmatrix_lines());
    } else {
        print!("{report}");
    }
}
