//! What the integration tests of `pidfd`, `pidfd-ns` and `pidfd-async` share. A workspace
//! crate (`publish = false`), a dev-dependency of each; the tests that use it are left out of
//! the published packages (`include` in each manifest), which carry only what builds from the
//! tarball.
//!
//! - [`require`]: the kernel matrix's feature contract (re-exported from `pidfd`'s hidden
//!   `__private::require`, which `pidfd`'s and `pidfd-ns`'s unit tests use too).
//! - [`fd_table`]: the leak and close-on-exec checks of each crate's `tests/fds.rs`.
//! - [`harness`]: one process per case, for `harness = false` binaries.
//! - [`reuse_lab`]: a PID namespace where pids are recycled on purpose.

pub mod fd_table;
pub mod harness;
pub mod reuse_lab;

/// A close-on-exec pipe (`pipe2(O_CLOEXEC)`): (read end, write end). `std::io::pipe` is Rust
/// 1.87; the crates' MSRV is 1.85.
pub fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just created and are owned by nobody else.
    let [r, w] = fds.map(|fd| std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
    (r, w)
}

/// The kernel matrix's feature contract: `require`, `require_all`, `self_pidfd`,
/// `under_matrix`, `expected`, `denied`.
pub mod require {
    pub use pidfd::__private::require::*;
}
