use std::process::Command;

#[test]
fn spawn_reports_exec_errors() {
    let err = pidfd::spawn(&mut Command::new("/nonexistent/program")).unwrap_err();
    assert_eq!(std::io::Error::from(err).raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn the_same_command_spawns_twice() {
    let mut cmd = Command::new("true");
    let (_a, fa) = pidfd::spawn(&mut cmd).unwrap();
    let (_b, fb) = pidfd::spawn(&mut cmd).unwrap();
    assert!(fa.wait().unwrap().success());
    assert!(fb.wait().unwrap().success());
    // A plain std spawn of the same Command stays unaffected by the inert hooks.
    assert!(cmd.status().unwrap().success());
}
