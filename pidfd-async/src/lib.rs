//! `pidfd-async`: waiting on processes with tokio.
//!
//! Work in progress (issue 6): `AsyncPidFd`, async spawning and `ExitSet` are not landed yet.
//! Nothing is exported.
#![deny(unsafe_code)]
