//! [`CommandArgs`] and [`CommandEnvs`]: what [`Command::get_args`](super::Command::get_args)
//! and [`Command::get_envs`](super::Command::get_envs) return, as std's types of those names
//! (which only std can build): an iterator that knows its length and prints as std's does.
//! Either can also be made from std's own, so a wrapper of a `std::process::Command` returns
//! the same type. Unlike std's (since Rust 1.87), both are `Send` and `Sync` on every compiler.

use std::collections::btree_map;
use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;

/// An iterator over a command's arguments, as `std::process::CommandArgs`: what
/// [`Command::get_args`](super::Command::get_args) returns.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct CommandArgs<'a> {
    inner: ArgsInner<'a>,
}

enum ArgsInner<'a> {
    Ours(std::slice::Iter<'a, OsString>),
    /// Taken from std's (whose iterator is not `Send` on newer compilers).
    Std(std::vec::IntoIter<&'a OsStr>),
}

impl<'a> CommandArgs<'a> {
    pub(super) fn new(args: &'a [OsString]) -> CommandArgs<'a> {
        CommandArgs { inner: ArgsInner::Ours(args.iter()) }
    }
}

/// The arguments of std's own, as `std::process::Command::get_args` returns them.
impl<'a> From<std::process::CommandArgs<'a>> for CommandArgs<'a> {
    fn from(args: std::process::CommandArgs<'a>) -> CommandArgs<'a> {
        CommandArgs { inner: ArgsInner::Std(args.collect::<Vec<_>>().into_iter()) }
    }
}

impl<'a> Iterator for CommandArgs<'a> {
    type Item = &'a OsStr;

    fn next(&mut self) -> Option<&'a OsStr> {
        match &mut self.inner {
            ArgsInner::Ours(it) => it.next().map(OsString::as_os_str),
            ArgsInner::Std(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            ArgsInner::Ours(it) => it.size_hint(),
            ArgsInner::Std(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for CommandArgs<'_> {}

/// As std's: `CommandArgs { inner: ["a", "b"] }`, the arguments not yet iterated, each printed
/// as std prints it (std keeps them as C strings and prints those).
impl fmt::Debug for CommandArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest: Vec<Arg<'_>> = match &self.inner {
            ArgsInner::Ours(it) => it.clone().map(|a| Arg(a)).collect(),
            ArgsInner::Std(it) => it.as_slice().iter().map(|a| Arg(a)).collect(),
        };
        f.debug_struct("CommandArgs").field("inner", &rest).finish()
    }
}

/// One argument, printed as std's `CommandArgs` prints it: as a C string (`CStr`'s escapes),
/// or, with a NUL inside (which a spawn refuses), as the `OsStr`.
struct Arg<'a>(&'a OsStr);

impl fmt::Debug for Arg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match CString::new(self.0.as_bytes()) {
            Ok(c) => c.as_c_str().fmt(f),
            Err(_) => self.0.fmt(f),
        }
    }
}

/// An iterator over a command's environment changes, as `std::process::CommandEnvs`: what
/// [`Command::get_envs`](super::Command::get_envs) returns. Each item is a variable set
/// (`Some(value)`) or removed (`None`), sorted by name.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct CommandEnvs<'a> {
    inner: EnvsInner<'a>,
}

type EnvItem<'a> = (&'a OsStr, Option<&'a OsStr>);

enum EnvsInner<'a> {
    Ours(btree_map::Iter<'a, OsString, Option<OsString>>),
    /// Taken from std's.
    Std(std::vec::IntoIter<EnvItem<'a>>),
}

impl<'a> CommandEnvs<'a> {
    pub(super) fn new(env: btree_map::Iter<'a, OsString, Option<OsString>>) -> CommandEnvs<'a> {
        CommandEnvs { inner: EnvsInner::Ours(env) }
    }
}

/// The changes of std's own, as `std::process::Command::get_envs` returns them.
impl<'a> From<std::process::CommandEnvs<'a>> for CommandEnvs<'a> {
    fn from(envs: std::process::CommandEnvs<'a>) -> CommandEnvs<'a> {
        CommandEnvs { inner: EnvsInner::Std(envs.collect::<Vec<_>>().into_iter()) }
    }
}

impl<'a> Iterator for CommandEnvs<'a> {
    type Item = EnvItem<'a>;

    fn next(&mut self) -> Option<EnvItem<'a>> {
        match &mut self.inner {
            EnvsInner::Ours(it) => it.next().map(|(k, v)| (k.as_os_str(), v.as_deref())),
            EnvsInner::Std(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            EnvsInner::Ours(it) => it.size_hint(),
            EnvsInner::Std(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for CommandEnvs<'_> {}

/// As std's: `CommandEnvs { iter: [("X", Some("1")), ("Y", None)] }`, the changes not yet
/// iterated.
impl fmt::Debug for CommandEnvs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest: Vec<EnvItem<'_>> = match &self.inner {
            EnvsInner::Ours(it) => it.clone().map(|(k, v)| (k.as_os_str(), v.as_deref())).collect(),
            EnvsInner::Std(it) => it.as_slice().to_vec(),
        };
        f.debug_struct("CommandEnvs").field("iter", &rest).finish()
    }
}
