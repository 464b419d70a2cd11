use pidfd::{Feature, Support};

use crate::support::{denied, expected};

/// Under the kernel matrix, the probes must agree exactly with the kernel's expected features:
/// `yes` for those in `PIDFD_TEST_EXPECT`, `denied` for those in `PIDFD_TEST_DENIED` (a seccomp
/// profile refuses their probe), `no` for the rest. `no` means the probe met the errno the
/// kernel timeline documents for a kernel without the feature (`Unsupported`); a probe that met
/// any other errno (`Undetermined`) fails the row, naming the errno, since the probe does not
/// know that kernel's answer.
#[test]
fn probes_match_the_kernel_matrix_expectations() {
    let report = pidfd::features();
    eprintln!("{report}");
    let Some(exp) = expected() else {
        eprintln!("no PIDFD_TEST_EXPECT: nothing to compare against (run under cargo xtask kernel-matrix)");
        return;
    };
    let refused = denied();
    for name in &exp {
        assert!(Feature::from_name(name).is_some(), "unknown feature {name} in PIDFD_TEST_EXPECT");
    }
    for name in &refused {
        assert!(Feature::from_name(name).is_some(), "unknown feature {name} in PIDFD_TEST_DENIED");
        assert!(!exp.contains(name), "{name} is in both PIDFD_TEST_EXPECT and PIDFD_TEST_DENIED");
    }
    let mut wrong = Vec::new();
    for (f, s) in report.iter() {
        let want = if exp.iter().any(|e| e == f.name()) {
            "yes"
        } else if refused.iter().any(|d| d == f.name()) {
            "denied"
        } else {
            "no"
        };
        let have = match s {
            Support::Supported => "yes",
            Support::Denied { .. } => "denied",
            Support::Unsupported => "no",
            // The probe could not tell (or a future variant): never what a row expects.
            _ => "undetermined",
        };
        if want != have {
            wrong.push(format!("{}: expected {want}, probe says {s}", f.name()));
        }
    }
    assert!(
        wrong.is_empty(),
        "kernel {}: {}",
        std::env::var("PIDFD_TEST_KERNEL").unwrap_or_default(),
        wrong.join("; ")
    );
}

#[test]
fn every_feature_has_a_name_and_a_kernel() {
    for f in Feature::ALL {
        assert_eq!(Feature::from_name(f.name()), Some(f));
        // A mainline release: "major.minor", from 4.9 (the oldest nsfs ioctls) on.
        let (major, minor) = f.since().split_once('.').expect("major.minor");
        let v = (major.parse::<u32>().unwrap(), minor.parse::<u32>().unwrap());
        assert!(v >= (4, 9), "{}: {}", f.name(), f.since());
        let msg = pidfd::Error::Unsupported { feature: f }.to_string();
        assert!(msg.contains(f.since()), "{msg}");
    }
}
