//! `/proc/.../ns/<name>` paths built in a stack buffer (no allocation on the fallback's path).

use std::ffi::CStr;

use crate::{Error, Namespace, Result};

/// Whose namespace file.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Who {
    /// `/proc/<pid>/ns/<name>`.
    Pid(i32),
    /// `/proc/thread-self/ns/<name>`: the calling thread's own namespaces.
    ThreadSelf,
    /// `/proc/self/ns/<name>`: the calling process's (its thread-group leader's).
    ProcSelf,
}

/// Room for the longest path: `/proc/` + 10 digits + `/ns/` + `time_for_children` + NUL.
pub(crate) type Buf = [u8; 64];

/// Writes byte strings one after another into a [`Buf`], then a NUL.
struct Writer<'a> {
    buf: &'a mut Buf,
    n: usize,
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut Buf) -> Writer<'a> {
        Writer { buf, n: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let end = self.n + bytes.len();
        self.buf.get_mut(self.n..end).ok_or(Error::invalid("namespace path too long"))?.copy_from_slice(bytes);
        self.n = end;
        Ok(())
    }

    /// A positive number in decimal.
    fn number(&mut self, v: i32, what: &'static str) -> Result<()> {
        if v <= 0 {
            return Err(Error::invalid(what));
        }
        self.decimal(v as u32)
    }

    fn decimal(&mut self, mut v: u32) -> Result<()> {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..])
    }

    fn who(&mut self, who: Who) -> Result<()> {
        match who {
            Who::Pid(pid) => self.number(pid, "pid must be positive"),
            Who::ThreadSelf => self.put(b"thread-self"),
            Who::ProcSelf => self.put(b"self"),
        }
    }

    fn finish(mut self) -> Result<&'a CStr> {
        self.put(b"\0")?;
        let n = self.n;
        CStr::from_bytes_with_nul(&self.buf[..n]).map_err(|_| Error::invalid("namespace path"))
    }
}

/// Writes the path of `ns` of `who` into `buf`; `ns` `None` stops at `/proc/<who>/ns`.
pub(crate) fn ns_path(buf: &mut Buf, who: Who, ns: Option<Namespace>) -> Result<&CStr> {
    let mut w = Writer::new(buf);
    w.put(b"/proc/")?;
    w.who(who)?;
    w.put(b"/ns")?;
    if let Some(ns) = ns {
        w.put(b"/")?;
        w.put(ns.proc_name().as_bytes())?;
    }
    w.finish()
}

/// `<who>/ns/<name>`, relative to an open `/proc`.
pub(crate) fn rel_ns_path(buf: &mut Buf, who: Who, ns: Namespace) -> Result<&CStr> {
    let mut w = Writer::new(buf);
    w.who(who)?;
    w.put(b"/ns/")?;
    w.put(ns.proc_name().as_bytes())?;
    w.finish()
}

/// `<pid>`, relative to an open `/proc`: the process's directory.
pub(crate) fn rel_pid_dir(buf: &mut Buf, pid: i32) -> Result<&CStr> {
    let mut w = Writer::new(buf);
    w.who(Who::Pid(pid))?;
    w.finish()
}

/// `self/fdinfo/<fd>`, relative to an open `/proc`.
pub(crate) fn rel_fdinfo(buf: &mut Buf, fd: i32) -> Result<&CStr> {
    let mut w = Writer::new(buf);
    let fd = u32::try_from(fd).map_err(|_| Error::invalid("fd must not be negative"))?;
    w.put(b"self/fdinfo/")?;
    w.decimal(fd)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let mut b = [0; 64];
        assert_eq!(ns_path(&mut b, Who::Pid(1), Some(Namespace::Net)).unwrap(), c"/proc/1/ns/net");
        let mut b = [0; 64];
        assert_eq!(
            ns_path(&mut b, Who::Pid(i32::MAX), Some(Namespace::TimeForChildren)).unwrap(),
            c"/proc/2147483647/ns/time_for_children"
        );
        let mut b = [0; 64];
        assert_eq!(ns_path(&mut b, Who::ThreadSelf, Some(Namespace::User)).unwrap(), c"/proc/thread-self/ns/user");
        let mut b = [0; 64];
        assert_eq!(ns_path(&mut b, Who::ProcSelf, None).unwrap(), c"/proc/self/ns");
        let mut b = [0; 64];
        assert!(matches!(ns_path(&mut b, Who::Pid(0), None), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
        assert!(matches!(ns_path(&mut b, Who::Pid(-5), None), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
        let mut b = [0; 64];
        assert_eq!(rel_ns_path(&mut b, Who::Pid(42), Namespace::PidForChildren).unwrap(), c"42/ns/pid_for_children");
        let mut b = [0; 64];
        assert_eq!(rel_ns_path(&mut b, Who::ThreadSelf, Namespace::Cgroup).unwrap(), c"thread-self/ns/cgroup");
        let mut b = [0; 64];
        assert_eq!(rel_pid_dir(&mut b, 7).unwrap(), c"7");
        let mut b = [0; 64];
        assert_eq!(rel_fdinfo(&mut b, 0).unwrap(), c"self/fdinfo/0");
        let mut b = [0; 64];
        assert_eq!(rel_fdinfo(&mut b, 1234).unwrap(), c"self/fdinfo/1234");
        assert!(matches!(rel_fdinfo(&mut b, -1), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
    }

    /// The fdinfo parser this crate's `/proc` fallback relies on is `pidfd`'s.
    #[test]
    fn fdinfo() {
        use pidfd::__private::fdinfo_pid;
        let text = b"pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nPid:\t1234\nNSpid:\t1234\t1\n";
        assert_eq!(fdinfo_pid(text), Some(1234));
        assert_eq!(fdinfo_pid(b"Pid:\t-1\nNSpid:\t-1\n"), Some(-1));
        assert_eq!(fdinfo_pid(b"Pid:\t0\n"), Some(0));
        assert_eq!(fdinfo_pid(b"Pid:\t77"), Some(77));
        assert_eq!(fdinfo_pid(b"NSpid:\t5\n"), None);
        assert_eq!(fdinfo_pid(b"pos:\t0\n"), None);
        assert_eq!(fdinfo_pid(b"Pid:\t12x\n"), None);
        assert_eq!(fdinfo_pid(b"Pid:\t99999999999\n"), None);
        assert_eq!(fdinfo_pid(b""), None);
    }
}
