//! The bench's unsafe calls: the raw epoll + waitid floor, clocks, resource usage, limits.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// CLOCK_MONOTONIC in nanoseconds (the same clock in every process of the machine).
pub(crate) fn now_ns() -> u64 {
    // Zeroed in place, padding included (32-bit targets with a 64-bit `time_t` have some).
    let mut ts = std::mem::MaybeUninit::<libc::timespec>::zeroed();
    // SAFETY: `ts` is valid for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, ts.as_mut_ptr()) };
    // SAFETY: all-zero bytes are a valid `timespec`, and the kernel wrote only whole fields.
    let ts = unsafe { ts.assume_init() };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// User + system CPU time of the whole process (all threads), without its children.
pub(crate) fn cpu_self() -> Duration {
    // SAFETY: all-zero is a valid `rusage`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid for the call to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit.
#[allow(clippy::useless_conversion, reason = "rlim_t is u32 on 32-bit glibc targets, u64 elsewhere")]
pub(crate) fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is valid for the call to fill.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    u64::from(lim.rlim_cur)
}

/// `F_SETPIPE_SZ`.
/// `pipe2(O_CLOEXEC)`: (read end, write end); `std::io::pipe` is Rust 1.87, the MSRV 1.85.
pub(crate) fn pipe() -> io::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(fds.map(|fd| std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) })).into())
}

pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: i32) -> io::Result<()> {
    // SAFETY: no pointers.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `_exit(code)`: no atexit handlers, no flushing, as a C child would exit.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: always safe; does not return.
    unsafe { libc::_exit(code) }
}

/// `pidfd_open(pid, 0)`.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `waitid(P_PIDFD, fd, WEXITED | WNOHANG)`: `Some(raw exit code or signal, si_code)` once
/// reaped, `None` if nothing yet.
pub(crate) fn waitid_pidfd_nohang(fd: RawFd) -> io::Result<Option<(i32, i32)>> {
    // SAFETY: all-zero is a valid `siginfo_t`.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid for the call to fill; P_PIDFD = 3.
    let r = unsafe { libc::waitid(3, fd as libc::id_t, &mut info, libc::WEXITED | libc::WNOHANG) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid filled `info` for a CLD_* event (or left it zeroed: pid 0).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    Ok((pid != 0).then_some((status, info.si_code)))
}

/// A buffer of `n` events for `epoll_wait`, zeroed (padding included) in place on the heap.
/// (`Box::new_zeroed_slice` is Rust 1.92; the MSRV is 1.85.)
pub(crate) fn event_buffer(n: usize) -> Box<[libc::epoll_event]> {
    if n == 0 {
        return Box::new([]);
    }
    let layout = std::alloc::Layout::array::<libc::epoll_event>(n).expect("epoll event buffer size");
    // SAFETY: the layout's size is not zero (n > 0 events of a non-zero-sized type).
    let events = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<libc::epoll_event>();
    if events.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: a fresh allocation of the global allocator with the layout a boxed slice of `n`
    // events has, owned by nobody else; all-zero bytes are a valid `epoll_event`.
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(events, n)) }
}

// `rlimit` has no padding: every byte handed to the kernel is a field's.
const _: () = assert!(std::mem::size_of::<libc::rlimit>() == 2 * std::mem::size_of::<libc::rlim_t>());

/// An epoll instance.
pub(crate) struct Epoll(OwnedFd);

impl Epoll {
    pub(crate) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: no pointers.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new fd owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Level-triggered `EPOLLIN` with `data`.
    pub(crate) fn add(&self, fd: RawFd, data: u64) -> io::Result<()> {
        self.add_events(fd, data, libc::EPOLLIN as u32)
    }

    /// Edge-triggered `EPOLLIN` with `data`.
    pub(crate) fn add_edge(&self, fd: RawFd, data: u64) -> io::Result<()> {
        self.add_events(fd, data, (libc::EPOLLIN | libc::EPOLLET) as u32)
    }

    fn add_events(&self, fd: RawFd, data: u64, events: u32) -> io::Result<()> {
        // Zeroed in place, padding included (4 bytes after `events` except on x86_64, where
        // `epoll_event` is packed), and never moved before the call.
        let mut ev = std::mem::MaybeUninit::<libc::epoll_event>::zeroed();
        // SAFETY: all-zero bytes are a valid `epoll_event`; only the two fields are written.
        let fields = unsafe { ev.assume_init_mut() };
        fields.events = events;
        fields.u64 = data;
        // SAFETY: `ev` is a valid, fully initialised event for the call.
        let r = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, ev.as_mut_ptr()) };
        if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Blocks until events arrive; returns their data.
    pub(crate) fn wait(&self, buf: &mut [libc::epoll_event]) -> io::Result<usize> {
        self.wait_for(buf, -1)
    }

    /// The events ready now, without blocking.
    pub(crate) fn wait_now(&self, buf: &mut [libc::epoll_event]) -> io::Result<usize> {
        self.wait_for(buf, 0)
    }

    fn wait_for(&self, buf: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is valid for `buf.len()` events.
            let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), buf.as_mut_ptr(), buf.len() as i32, timeout_ms) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
}

/// The `si_code` of a normal exit.
pub(crate) const CLD_EXITED: i32 = libc::CLD_EXITED;

/// One `write(1, buf)`: atomic for a pipe when `buf` is at most `PIPE_BUF` bytes (std's stdout
/// is line-buffered and would split a record at a newline byte).
pub(crate) fn write_stdout_once(buf: &[u8]) -> io::Result<()> {
    // SAFETY: `buf` is valid for reads of its length.
    let n = unsafe { libc::write(1, buf.as_ptr().cast(), buf.len()) };
    if n as usize == buf.len() { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// `mkfifo(path, 0600)`.
pub(crate) fn mkfifo(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path for the call.
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Bytes of heap currently allocated, and the peak since the last [`reset_heap_peak`].
static HEAP_NOW: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static HEAP_PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The system allocator, counting live bytes and their peak (two relaxed atomics per call).
pub(crate) struct Counting;

// SAFETY: every call is forwarded unchanged to `System`, which upholds the `GlobalAlloc`
// contract; the counters have no effect on the memory handed out.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        HEAP_NOW.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HEAP_NOW.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

fn grew(size: usize) {
    let now = HEAP_NOW.fetch_add(size, std::sync::atomic::Ordering::Relaxed) + size;
    HEAP_PEAK.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
}

/// Live heap bytes now.
pub(crate) fn heap_now() -> usize {
    HEAP_NOW.load(std::sync::atomic::Ordering::Relaxed)
}

/// Peak live heap bytes since the last reset.
pub(crate) fn heap_peak() -> usize {
    HEAP_PEAK.load(std::sync::atomic::Ordering::Relaxed)
}

/// Starts a new peak from the current level.
pub(crate) fn reset_heap_peak() {
    HEAP_PEAK.store(heap_now(), std::sync::atomic::Ordering::Relaxed);
}
