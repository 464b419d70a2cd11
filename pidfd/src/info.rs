//! `PIDFD_GET_INFO` (6.13): the raw buffer and the checked view of it.
//!
//! A field is returned only when the kernel set its mask bit *and* the field lies inside the
//! bytes the caller passed (the kernel does not trim the mask to the buffer). `supported_mask`
//! moved from offset 72 (6.19, 7.0: an 80-byte struct) to offset 80 (7.1+: 88 bytes); it is read
//! only from a full 88-byte request, where the two layouts can be told apart.

use std::mem::{offset_of, size_of};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use pidfd_sys as uapi;
use uapi::{pidfd_info_v2, pidfd_info_v3};

/// The request/answer buffer: always the newest struct, with the size that was passed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawInfo {
    info: pidfd_info_v3,
    size: usize,
}

impl RawInfo {
    /// The size this crate passes: the whole current struct. Older kernels copy their smaller
    /// struct and leave the rest zero.
    pub(crate) const SIZE: usize = size_of::<pidfd_info_v3>();

    pub(crate) fn request(mask: u64) -> RawInfo {
        RawInfo::request_sized(mask, RawInfo::SIZE)
    }

    /// A request of `size` bytes (64..=88); for callers that need an older layout.
    pub(crate) fn request_sized(mask: u64, size: usize) -> RawInfo {
        RawInfo { info: pidfd_info_v3 { mask, ..Default::default() }, size }
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// `PIDFD_GET_INFO` on `fd` into this buffer, with the size it was made for.
    pub(crate) fn fetch(&mut self, fd: std::os::fd::RawFd) -> std::io::Result<()> {
        crate::sys::pidfd_get_info(fd, &mut self.info, self.size)
    }

    /// Whether the kernel set `bit` in the returned mask.
    pub(crate) fn returned(&self, bit: u64) -> bool {
        self.info.mask & bit != 0
    }

    /// Whether `bit` was returned and the bytes `[offset, offset + len)` were passed.
    fn has(&self, bit: u64, offset: usize, len: usize) -> bool {
        self.returned(bit) && offset + len <= self.size
    }

    pub(crate) fn pid(&self) -> Option<i32> {
        self.has(uapi::PIDFD_INFO_PID, offset_of!(pidfd_info_v3, pid), 4).then_some(self.info.pid as i32)
    }

    fn tgid(&self) -> Option<i32> {
        self.has(uapi::PIDFD_INFO_PID, offset_of!(pidfd_info_v3, tgid), 4).then_some(self.info.tgid as i32)
    }

    pub(crate) fn ppid(&self) -> Option<i32> {
        self.has(uapi::PIDFD_INFO_PID, offset_of!(pidfd_info_v3, ppid), 4).then_some(self.info.ppid as i32)
    }

    pub(crate) fn credentials(&self) -> Option<Credentials> {
        let i = &self.info;
        self.has(uapi::PIDFD_INFO_CREDS, offset_of!(pidfd_info_v3, ruid), 32).then_some(Credentials {
            ruid: i.ruid,
            euid: i.euid,
            suid: i.suid,
            fsuid: i.fsuid,
            rgid: i.rgid,
            egid: i.egid,
            sgid: i.sgid,
            fsgid: i.fsgid,
        })
    }

    pub(crate) fn cgroup_id(&self) -> Option<u64> {
        self.has(uapi::PIDFD_INFO_CGROUPID, offset_of!(pidfd_info_v3, cgroupid), 8).then_some(self.info.cgroupid)
    }

    pub(crate) fn exit_status(&self) -> Option<ExitStatus> {
        self.has(uapi::PIDFD_INFO_EXIT, offset_of!(pidfd_info_v3, exit_code), 4)
            .then(|| ExitStatus::from_raw(self.info.exit_code))
    }

    fn coredump(&self) -> Option<Coredump> {
        if !self.has(uapi::PIDFD_INFO_COREDUMP, offset_of!(pidfd_info_v3, coredump_mask), 4) {
            return None;
        }
        let signal = self
            .has(uapi::PIDFD_INFO_COREDUMP_SIGNAL, offset_of!(pidfd_info_v3, coredump_signal), 4)
            .then_some(self.info.coredump_signal as i32);
        let code = self
            .has(uapi::PIDFD_INFO_COREDUMP_CODE, offset_of!(pidfd_info_v3, coredump_code), 4)
            .then_some(self.info.coredump_code as i32);
        Some(Coredump { flags: self.info.coredump_mask, signal, code })
    }

    /// The kernel's supported mask, telling the 80-byte (6.19, 7.0) and 88-byte (7.1+) layouts
    /// apart: it always holds at least PID|CREDS, so a zero at offset 80 means the kernel's struct
    /// ended at 80 and the mask sits at 72.
    pub(crate) fn supported_mask(&self) -> Option<u64> {
        if !self.returned(uapi::PIDFD_INFO_SUPPORTED_MASK) || self.size != size_of::<pidfd_info_v3>() {
            return None;
        }
        if self.info.supported_mask != 0 {
            return Some(self.info.supported_mask);
        }
        let v2 = self.as_v2();
        (v2.supported_mask != 0).then_some(v2.supported_mask)
    }

    /// The same bytes seen through the 80-byte layout.
    fn as_v2(&self) -> pidfd_info_v2 {
        let i = &self.info;
        // Field by field, no transmute: the v2 `supported_mask` is the v3 bytes 72..80.
        let mut low = [0u8; 8];
        low[..4].copy_from_slice(&i.coredump_code.to_ne_bytes());
        low[4..].copy_from_slice(&i.coredump_pad.to_ne_bytes());
        pidfd_info_v2 {
            mask: i.mask,
            cgroupid: i.cgroupid,
            pid: i.pid,
            tgid: i.tgid,
            ppid: i.ppid,
            ruid: i.ruid,
            rgid: i.rgid,
            euid: i.euid,
            egid: i.egid,
            suid: i.suid,
            sgid: i.sgid,
            fsuid: i.fsuid,
            fsgid: i.fsgid,
            exit_code: i.exit_code,
            coredump_mask: i.coredump_mask,
            coredump_signal: i.coredump_signal,
            supported_mask: u64::from_ne_bytes(low),
        }
    }
}

/// The user and group ids of a process, mapped into the caller's user namespace.
///
/// # Kernel support
/// From `PIDFD_GET_INFO` (6.13), else `/proc/<pid>/status` re-checked through the pidfd
/// ([`PidFd::credentials`](crate::PidFd::credentials)); [`ProcessInfo::credentials`] (6.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Credentials {
    /// Real user id.
    pub ruid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Saved set-user-id.
    pub suid: u32,
    /// Filesystem user id.
    pub fsuid: u32,
    /// Real group id.
    pub rgid: u32,
    /// Effective group id.
    pub egid: u32,
    /// Saved set-group-id.
    pub sgid: u32,
    /// Filesystem group id.
    pub fsgid: u32,
}

/// Core-dump information (`PIDFD_INFO_COREDUMP`, 6.16).
///
/// # Kernel support
/// `PIDFD_INFO_COREDUMP` (6.16); `signal` 6.19, `code` 7.1. On older kernels
/// [`ProcessInfo::coredump`] is `None`; the wait status's core-dump bit is there on every kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Coredump {
    /// `PIDFD_COREDUMPED`, `PIDFD_COREDUMP_SKIP`, `PIDFD_COREDUMP_USER`, `PIDFD_COREDUMP_ROOT`
    /// bits. The kernel records a dump only when it went through the coredump socket; with a
    /// plain `core_pattern` file it stays 0, so [`ExitStatusExt::core_dumped`] is the reliable
    /// "dumped" bit.
    pub flags: u32,
    /// The signal that caused the dump (6.19), when the kernel recorded one.
    pub signal: Option<i32>,
    /// The `si_code` of that signal (7.1), when recorded.
    pub code: Option<i32>,
}

impl Coredump {
    /// The kernel wrote a core dump (as recorded by the kernel: see [`Coredump::flags`]).
    pub fn dumped(&self) -> bool {
        self.flags & uapi::PIDFD_COREDUMPED != 0
    }

    /// The process is dumpable by its user (`PIDFD_COREDUMP_USER`) or only as root
    /// (`PIDFD_COREDUMP_ROOT`); `None` if neither was reported.
    pub fn dumpable_by_user(&self) -> Option<bool> {
        if self.flags & uapi::PIDFD_COREDUMP_USER != 0 {
            Some(true)
        } else if self.flags & uapi::PIDFD_COREDUMP_ROOT != 0 {
            Some(false)
        } else {
            None
        }
    }
}

/// What `PIDFD_GET_INFO` returned (6.13): each getter is `Some` exactly when the kernel's
/// returned mask has the field's bit and the field lay inside the bytes passed.
///
/// # Kernel support
/// `PIDFD_GET_INFO` (6.13) through [`PidFd::info`](crate::PidFd::info); each getter names the
/// kernel that first fills its field. On older kernels there is no `ProcessInfo` at all.
#[derive(Clone, Copy, Debug)]
pub struct ProcessInfo {
    raw: RawInfo,
}

impl ProcessInfo {
    pub(crate) fn new(raw: RawInfo) -> Self {
        ProcessInfo { raw }
    }

    /// The returned mask (`PIDFD_INFO_*` bits of `pidfd-sys`).
    pub fn mask(&self) -> u64 {
        self.raw.info.mask
    }

    /// How many bytes of `struct pidfd_info` were passed to the kernel.
    pub fn size(&self) -> usize {
        self.raw.size()
    }

    /// The process's pid (the thread's id for a thread pidfd) in the caller's PID namespace.
    ///
    /// `None` once the process is reaped.
    pub fn pid(&self) -> Option<i32> {
        self.raw.pid()
    }

    /// The thread-group id: equal to [`pid`](Self::pid) for a process pidfd.
    ///
    /// `None` once the process is reaped.
    pub fn tgid(&self) -> Option<i32> {
        self.raw.tgid()
    }

    /// The parent's pid; 0 when the parent is outside the caller's PID namespace.
    ///
    /// `None` once the process is reaped.
    pub fn ppid(&self) -> Option<i32> {
        self.raw.ppid()
    }

    /// The credentials.
    pub fn credentials(&self) -> Option<Credentials> {
        self.raw.credentials()
    }

    /// The cgroup v2 id (the process's cgroup at exit, for a reaped process).
    pub fn cgroup_id(&self) -> Option<u64> {
        self.raw.cgroup_id()
    }

    /// The exit status, once the process has been reaped (6.15).
    ///
    /// Always `None` before 6.15 (`PIDFD_INFO_EXIT`).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.raw.exit_status()
    }

    /// Core-dump information (6.16).
    ///
    /// Always `None` before 6.16 (`PIDFD_INFO_COREDUMP`).
    pub fn coredump(&self) -> Option<Coredump> {
        self.raw.coredump()
    }

    /// The mask bits the kernel supports (6.19).
    ///
    /// Always `None` before 6.19 (`PIDFD_INFO_SUPPORTED_MASK`).
    pub fn supported_mask(&self) -> Option<u64> {
        self.raw.supported_mask()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(size: usize, f: impl FnOnce(&mut pidfd_info_v3)) -> RawInfo {
        let mut raw = RawInfo::request_sized(0, size);
        f(&mut raw.info);
        raw
    }

    #[test]
    fn fields_need_their_mask_bit() {
        let raw = answer(88, |i| {
            i.mask = uapi::PIDFD_INFO_CGROUPID;
            i.pid = 42;
            i.cgroupid = 7;
        });
        assert_eq!(raw.pid(), None);
        assert_eq!(raw.credentials(), None);
        assert_eq!(raw.cgroup_id(), Some(7));
        assert_eq!(raw.exit_status(), None);
    }

    #[test]
    fn coredump_needs_the_bytes_passed() {
        // The kernel reports the bit even for a 64-byte request; the field was not copied.
        let raw = answer(64, |i| {
            i.mask = uapi::PIDFD_INFO_COREDUMP | uapi::PIDFD_INFO_PID;
            i.coredump_mask = 4;
        });
        assert_eq!(raw.coredump(), None);
        let raw = answer(72, |i| {
            i.mask = uapi::PIDFD_INFO_COREDUMP;
            i.coredump_mask = 4;
        });
        assert_eq!(raw.coredump().map(|c| c.flags), Some(4));
        assert_eq!(raw.coredump().and_then(|c| c.signal), None);
    }

    #[test]
    fn supported_mask_at_80_on_7_1() {
        let raw = answer(88, |i| {
            i.mask = uapi::PIDFD_INFO_SUPPORTED_MASK;
            i.coredump_code = 11;
            i.supported_mask = 0xff;
        });
        assert_eq!(raw.supported_mask(), Some(0xff));
    }

    #[test]
    fn supported_mask_at_72_on_6_19() {
        // A 6.19 kernel copies 80 bytes: the mask lands where v3 has coredump_code and pad.
        let mask: u64 = 0x7f;
        let bytes = mask.to_ne_bytes();
        let raw = answer(88, |i| {
            i.mask = uapi::PIDFD_INFO_SUPPORTED_MASK;
            i.coredump_code = u32::from_ne_bytes(bytes[..4].try_into().unwrap());
            i.coredump_pad = u32::from_ne_bytes(bytes[4..].try_into().unwrap());
        });
        assert_eq!(raw.supported_mask(), Some(0x7f));
    }

    #[test]
    fn supported_mask_needs_a_full_request() {
        let raw = answer(80, |i| {
            i.mask = uapi::PIDFD_INFO_SUPPORTED_MASK;
            i.coredump_code = 0x7f;
        });
        assert_eq!(raw.supported_mask(), None);
    }

    #[test]
    fn exit_code_is_a_wait_status() {
        let raw = answer(64, |i| {
            i.mask = uapi::PIDFD_INFO_EXIT;
            i.exit_code = 42 << 8;
        });
        assert_eq!(raw.exit_status().and_then(|s| s.code()), Some(42));
        let raw = answer(64, |i| {
            i.mask = uapi::PIDFD_INFO_EXIT;
            i.exit_code = libc::SIGSEGV | 0x80;
        });
        let st = raw.exit_status().unwrap();
        assert_eq!(st.signal(), Some(libc::SIGSEGV));
        assert!(st.core_dumped());
    }
}
