//! `pidfd-ns`: the namespaces of a process, through its pidfd.
//!
//! Work in progress (issue 5): the getters, `setns` helpers and `run_in_namespaces` are not
//! landed yet. Nothing is exported.
#![deny(unsafe_code)]
