//! The vfork `clone3` trampoline for aarch64.

use pidfd_sys as uapi;

/// As the x86_64 version (`trampoline/x86_64.rs`): `svc` returns 0 in x0 in the child, on the new stack (16-byte
/// aligned top), where it calls `f(arg)` with frame pointer and link register zeroed.
///
/// # Safety
/// As the x86_64 version.
pub(crate) unsafe fn clone3_vfork(
    args: &mut uapi::clone_args,
    f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> libc::c_long {
    let ret: libc::c_long;
    // SAFETY: the caller's contract. In the parent only x0 (the result) changes (`svc`
    // preserves every other register) and nothing is pushed. The child never leaves the
    // assembly: it runs `f` on the new stack, then `exit`s.
    unsafe {
        std::arch::asm!(
            "svc #0",
            "cbnz x0, 2f",
            "mov x29, xzr",
            "mov x30, xzr",
            "mov x0, x2",
            "blr x3",
            "mov x8, #{exit}",
            "svc #0",
            "brk #1",
            "2:",
            exit = const libc::SYS_exit,
            inlateout("x0") args as *mut uapi::clone_args => ret,
            in("x1") uapi::CLONE_ARGS_SIZE_VER0,
            in("x2") arg,
            in("x3") f,
            in("x8") uapi::SYS_clone3,
            options(nostack),
        );
    }
    ret
}
