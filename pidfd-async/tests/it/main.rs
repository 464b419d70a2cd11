//! Integration tests of `pidfd-async` against real processes on the running kernel.
//!
//! Under the kernel matrix, `PIDFD_TEST_EXPECT` lists the features the kernel must have: a test
//! that would skip for lack of one of them fails instead.

mod support;
mod sys;

mod command;
mod exit_set;
mod many;
mod nonchild;
mod shutdown;
mod spurious;
mod wait;
