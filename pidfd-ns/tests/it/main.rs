//! Integration tests of `pidfd-ns` against real processes in real namespaces on the running
//! kernel (as root: creating most namespaces needs it).
//!
//! Tests run in parallel threads of one process: they enter namespaces only on threads of
//! their own (`run_in_namespaces` or a spawned thread), never on the test's thread for mount
//! or user namespaces. Under the kernel matrix, `PIDFD_TEST_EXPECT` lists the features the
//! kernel must have: a test that would skip for lack of one of them fails instead;
//! `PIDFD_TEST_DENIED` lists those a seccomp profile refuses (the container row, where
//! `pidfd_open` answers `EPERM`): a test needing one skips, saying so, and any other refusal
//! fails. Nearly every test here needs a pidfd from `pidfd_open`.

mod support;

mod enter;
mod getters;
mod pidns;
mod userns;
