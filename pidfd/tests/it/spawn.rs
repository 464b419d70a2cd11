use std::process::Command;

use pidfd::Feature;

use crate::support::require;

#[test]
fn spawn_reports_exec_errors() {
    // pidfd::spawn's child opens its own pidfd (`pidfd_open`) before it execs.
    if !require(Feature::PidfdOpen) {
        return;
    }
    let err = pidfd::spawn(&mut Command::new("/nonexistent/program")).unwrap_err();
    assert_eq!(std::io::Error::from(err).raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn the_same_command_spawns_twice() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    let mut cmd = Command::new("true");
    let (_a, fa) = pidfd::spawn(&mut cmd).unwrap();
    let (_b, fb) = pidfd::spawn(&mut cmd).unwrap();
    assert!(fa.wait().unwrap().success());
    assert!(fb.wait().unwrap().success());
    // A plain std spawn of the same Command stays unaffected by the inert hooks.
    assert!(cmd.status().unwrap().success());
}
