//! Signals.

use crate::{Feature, PidFd, SignalScope};

/// `si_value` arrives where the receiver reads it: an `Int` as `sival_int`, a `Ptr` as
/// `sival_ptr`. Sent to this thread alone through a thread pidfd, with the signal blocked here.
#[test]
fn sigqueue_value_reads_back_through_its_member() {
    if !Feature::PidfdThread.is_supported() {
        return;
    }
    let at = crate::sys::test_support::SI_VALUE_OFFSET;
    crate::sys::test_support::block_on_this_thread(libc::SIGUSR2);
    let me = PidFd::open_with(crate::sys::gettid(), crate::OpenFlags::THREAD).unwrap();
    me.send_signal_with(libc::SIGUSR2, SignalScope::Default, crate::SigInfo::queue(crate::SigValue::Int(-7))).unwrap();
    let info = crate::sys::test_support::take_signal(libc::SIGUSR2);
    assert_eq!(i32::from_ne_bytes(info[at..at + 4].try_into().unwrap()), -7, "sival_int");
    let code = if cfg!(any(target_arch = "mips", target_arch = "mips64")) { 4 } else { 8 };
    assert_eq!(i32::from_ne_bytes(info[code..code + 4].try_into().unwrap()), libc::SI_QUEUE);
    let ptr = 0x5eed_f00d_usize;
    me.send_signal_with(libc::SIGUSR2, SignalScope::Default, crate::SigInfo::queue(crate::SigValue::Ptr(ptr))).unwrap();
    let info = crate::sys::test_support::take_signal(libc::SIGUSR2);
    const W: usize = std::mem::size_of::<usize>();
    assert_eq!(usize::from_ne_bytes(info[at..at + W].try_into().unwrap()), ptr, "sival_ptr");
}
