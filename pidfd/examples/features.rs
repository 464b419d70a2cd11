//! Prints what the running kernel supports and how each operation will be carried out.
//!
//! `cargo run -p pidfd-core --example features` for the table; `-- --kmatrix` for the kernel
//! matrix's machine-readable lines (`KMATRIX-FEATURE <name> <yes|no|denied|unknown>`, one per
//! feature); `-- --facts` for what is known of each feature without probing it, one line each:
//! `<name> <first kernel> needs=<features> calls=<system calls>` (comma-separated lists, maybe
//! empty: the features the probe asks first and the pidfd system calls it then makes). The
//! xtask reads `--facts` instead of keeping its own copy.

use pidfd::{Feature, Support};

fn main() {
    if std::env::args().any(|a| a == "--facts") {
        for f in Feature::ALL {
            let needs: Vec<&str> = f.probe_needs().iter().map(|n| n.name()).collect();
            println!("{} {} needs={} calls={}", f.name(), f.since(), needs.join(","), f.probe_calls().join(","));
        }
        return;
    }
    let report = pidfd::features();
    if std::env::args().any(|a| a == "--kmatrix") {
        for (f, s) in report.iter() {
            let word = match s {
                Support::Supported => "yes",
                Support::Unsupported => "no",
                Support::Denied { .. } => "denied",
                // `Undetermined`, and any answer a later version adds.
                _ => "unknown",
            };
            println!("KMATRIX-FEATURE {} {word}", f.name());
        }
    } else {
        print!("{report}");
    }
}
