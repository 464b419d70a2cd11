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

/// Writes the path of `ns` of `who` into `buf`; `name` `None` stops at `/proc/<who>/ns`.
pub(crate) fn ns_path(buf: &mut Buf, who: Who, ns: Option<Namespace>) -> Result<&CStr> {
    let mut n = 0;
    let mut put = |bytes: &[u8]| -> Result<()> {
        let end = n + bytes.len();
        buf.get_mut(n..end).ok_or(Error::InvalidInput("namespace path too long"))?.copy_from_slice(bytes);
        n = end;
        Ok(())
    };
    put(b"/proc/")?;
    match who {
        Who::Pid(pid) => {
            if pid <= 0 {
                return Err(Error::InvalidInput("pid must be positive"));
            }
            let mut digits = [0u8; 10];
            let mut i = digits.len();
            let mut v = pid as u32;
            loop {
                i -= 1;
                digits[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            put(&digits[i..])?;
        }
        Who::ThreadSelf => put(b"thread-self")?,
        Who::ProcSelf => put(b"self")?,
    }
    put(b"/ns")?;
    if let Some(ns) = ns {
        put(b"/")?;
        put(ns.proc_name().as_bytes())?;
    }
    put(b"\0")?;
    CStr::from_bytes_with_nul(&buf[..n]).map_err(|_| Error::InvalidInput("namespace path"))
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
        assert!(matches!(ns_path(&mut b, Who::Pid(0), None), Err(Error::InvalidInput(_))));
        assert!(matches!(ns_path(&mut b, Who::Pid(-5), None), Err(Error::InvalidInput(_))));
    }
}
