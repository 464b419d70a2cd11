//! Integration tests of `pidfd` against real processes on the running kernel.
//!
//! Under the kernel matrix, `PIDFD_TEST_EXPECT` lists the features the kernel must have: a test
//! that would skip for lack of one of them fails instead.

mod support;

mod command;
mod features;
mod info;
mod open;
mod signal;
mod socket;
mod spawn;
mod wait;
