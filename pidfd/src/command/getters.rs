//! [`CommandArgs`] and [`CommandEnvs`]: what [`Command::get_args`](super::Command::get_args)
//! and [`Command::get_envs`](super::Command::get_envs) return, as std's types of those names
//! (which only std can build): an iterator that knows its length and prints as std's does.
//! Either kind can also wrap std's own, so a wrapper of a `std::process::Command` returns the
//! same type.

use std::collections::btree_map;
use std::ffi::{OsStr, OsString};
use std::fmt;

/// An iterator over a command's arguments, as `std::process::CommandArgs`: what
/// [`Command::get_args`](super::Command::get_args) returns.
pub struct CommandArgs<'a> {
    inner: ArgsInner<'a>,
}

enum ArgsInner<'a> {
    Ours(std::slice::Iter<'a, OsString>),
    Std(std::process::CommandArgs<'a>),
}

impl<'a> CommandArgs<'a> {
    pub(super) fn new(args: &'a [OsString]) -> CommandArgs<'a> {
        CommandArgs { inner: ArgsInner::Ours(args.iter()) }
    }
}

/// std's own, as `std::process::Command::get_args` returns it.
impl<'a> From<std::process::CommandArgs<'a>> for CommandArgs<'a> {
    fn from(args: std::process::CommandArgs<'a>) -> CommandArgs<'a> {
        CommandArgs { inner: ArgsInner::Std(args) }
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

/// As std's: `CommandArgs { inner: ["a", "b"] }`, the arguments not yet iterated.
impl fmt::Debug for CommandArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest: Vec<&OsStr> = match &self.inner {
            ArgsInner::Ours(it) => it.clone().map(OsString::as_os_str).collect(),
            // std's iterator cannot be cloned: its own `Debug` prints the same list.
            ArgsInner::Std(it) => return it.fmt(f),
        };
        f.debug_struct("CommandArgs").field("inner", &rest).finish()
    }
}

/// An iterator over a command's environment changes, as `std::process::CommandEnvs`: what
/// [`Command::get_envs`](super::Command::get_envs) returns. Each item is a variable set
/// (`Some(value)`) or removed (`None`), sorted by name.
pub struct CommandEnvs<'a> {
    inner: EnvsInner<'a>,
}

enum EnvsInner<'a> {
    Ours(btree_map::Iter<'a, OsString, Option<OsString>>),
    Std(std::process::CommandEnvs<'a>),
}

impl<'a> CommandEnvs<'a> {
    pub(super) fn new(env: btree_map::Iter<'a, OsString, Option<OsString>>) -> CommandEnvs<'a> {
        CommandEnvs { inner: EnvsInner::Ours(env) }
    }
}

/// std's own, as `std::process::Command::get_envs` returns it.
impl<'a> From<std::process::CommandEnvs<'a>> for CommandEnvs<'a> {
    fn from(envs: std::process::CommandEnvs<'a>) -> CommandEnvs<'a> {
        CommandEnvs { inner: EnvsInner::Std(envs) }
    }
}

impl<'a> Iterator for CommandEnvs<'a> {
    type Item = (&'a OsStr, Option<&'a OsStr>);

    fn next(&mut self) -> Option<(&'a OsStr, Option<&'a OsStr>)> {
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
        let rest: Vec<(&OsStr, Option<&OsStr>)> = match &self.inner {
            EnvsInner::Ours(it) => it.clone().map(|(k, v)| (k.as_os_str(), v.as_deref())).collect(),
            EnvsInner::Std(it) => return it.fmt(f),
        };
        f.debug_struct("CommandEnvs").field("iter", &rest).finish()
    }
}
