//! The facts table and the probes.

use super::*;

/// Row `i` of the table is the feature whose discriminant is `i`, so the accessors that index
/// it by `self as usize` read their own row, and `ALL` lists the rows in order.
#[test]
fn the_facts_table_is_in_feature_order() {
    assert_eq!(FACTS.len(), Feature::ALL.len());
    for (i, row) in FACTS.iter().enumerate() {
        assert_eq!(row.feature as usize, i, "row {i} is {:?}", row.feature);
        assert_eq!(Feature::ALL[i], row.feature);
        assert_eq!(row.feature.name(), row.name);
        assert_eq!(row.feature.since(), row.since);
        assert_eq!(row.feature.to_string(), row.display);
        assert_eq!(Feature::from_name(row.name), Some(row.feature));
    }
}

/// Names are unique `snake_case`, versions `major.minor`; a probe needs only features that
/// come before it (no cycles) and calls only pidfd system calls.
#[test]
fn the_facts_table_is_well_formed() {
    const CALLS: [&str; 6] =
        ["pidfd_open", "pidfd_send_signal", "pidfd_getfd", "clone3", "process_madvise", "process_mrelease"];
    for (i, row) in FACTS.iter().enumerate() {
        assert!(row.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{}", row.name);
        assert!(FACTS[..i].iter().all(|r| r.name != row.name && r.display != row.display), "{} twice", row.name);
        let (major, minor) = row.since.split_once('.').unwrap();
        assert!(major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok(), "{}: {}", row.name, row.since);
        for n in row.needs {
            assert!((*n as usize) < i, "{} needs {}, which comes after it", row.name, n.name());
        }
        for c in row.calls {
            assert!(CALLS.contains(c), "{} calls {c}, not a pidfd system call", row.name);
        }
        assert_eq!(row.feature.probe_needs(), row.needs);
        assert_eq!(row.feature.probe_calls(), row.calls);
    }
    // Kernel order: a feature's first kernel is never older than its predecessor's.
    let v = |s: &str| s.split_once('.').map(|(a, b)| (a.parse::<u32>().unwrap(), b.parse::<u32>().unwrap()));
    assert!(FACTS.windows(2).all(|w| v(w[0].since) <= v(w[1].since)));
}

/// The features a probe builds on, transitively, with itself.
fn closure(f: Feature) -> Vec<Feature> {
    let mut all = vec![f];
    for &n in f.probe_needs() {
        all.extend(closure(n));
    }
    all
}

/// FACTS' `calls` are what `probe` calls, checked through the fault seam: a policy refusing
/// one of a feature's calls makes it `Denied` (where everything it builds on is there, so
/// the probe reaches the call), and refusing a pidfd call that neither it nor what it
/// builds on lists changes nothing.
#[test]
fn the_facts_calls_are_what_the_probes_call() {
    use crate::sys::{Call, fault};
    let seamed = [
        ("pidfd_open", Call::PidfdOpen),
        ("pidfd_send_signal", Call::PidfdSendSignal),
        ("pidfd_getfd", Call::PidfdGetfd),
        ("process_madvise", Call::ProcessMadvise),
        ("process_mrelease", Call::ProcessMrelease),
    ];
    let mut checked = 0;
    for f in Feature::ALL {
        let baseline = f.support();
        let listed: Vec<&str> = closure(f).iter().flat_map(|n| n.probe_calls().iter().copied()).collect();
        let reachable = f.probe_needs().iter().all(|n| n.is_supported());
        for (name, call) in seamed {
            let _g = fault::inject(call, libc::EPERM);
            let answer = f.support();
            if !listed.contains(&name) {
                assert_eq!(answer, baseline, "{}: refusing {name}, which FACTS does not list, changed it", f.name());
            } else if f.probe_calls().contains(&name) && reachable {
                assert_eq!(
                    answer,
                    Support::Denied { errno: libc::EPERM },
                    "{}: FACTS lists {name}, yet refusing it changed nothing",
                    f.name()
                );
                checked += 1;
            }
        }
    }
    // The check ran for the features of every kernel since 5.3 (`pidfd_open` and the calls
    // of 5.1-5.10 at least), not vacuously.
    assert!(checked >= 5, "only {checked} (feature, call) pairs were reachable");
}
