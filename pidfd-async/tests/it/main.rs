//! Integration tests of `pidfd-async` against real processes on the running kernel.
//!
//! Under the kernel matrix, `PIDFD_TEST_EXPECT` lists the features the kernel must have: a test
//! that would skip for lack of one of them fails instead. `PIDFD_TEST_DENIED` lists those a
//! seccomp profile refuses (the container-eperm row): a test that needs one of them skips,
//! saying so, and every test that needs only `pidfd_async::Command`, waiting and `ExitSet`
//! runs there (see `support::require`).

// Shared with the other test binaries, which use other parts of it.
#[allow(dead_code)]
mod support;
mod sys;

mod command;
mod exit_set;
mod many;
mod nonchild;
mod shutdown;
mod spurious;
mod wait;
