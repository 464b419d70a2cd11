//! Integration tests of `pidfd` against real processes on the running kernel.
//!
//! Under the kernel matrix, `PIDFD_TEST_EXPECT` lists the features the kernel must have: a test
//! that would skip for lack of one of them fails instead. `PIDFD_TEST_DENIED` lists those a
//! seccomp profile refuses (the container row): a test needing one of them skips, saying so,
//! and a refusal it does not list fails. Outside the matrix a refused feature skips with the
//! reason.

mod support;

mod command;
mod denied;
mod features;
mod info;
mod open;
mod signal;
mod socket;
mod spawn;
mod wait;
