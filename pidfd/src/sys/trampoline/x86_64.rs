//! The vfork `clone3` trampoline for x86_64.

use pidfd_sys as uapi;

/// `clone3(args)` for a child on its own stack that shares our memory (`CLONE_VM`). In the child
/// the system call returns 0 on the new stack, where no Rust frame of ours exists: the
/// assembly calls `f(arg)` there (frame pointer and return address zeroed) and exits with its
/// result should it return. Returns what the kernel returned in the parent: the child's pid or
/// `-errno`.
///
/// # Safety
/// `args` must name a mapped stack (`stack`, `stack_size`) that nothing else uses until the
/// child has exec'd or exited (with `CLONE_VFORK`, until this returns), with a 16-byte aligned
/// top; `f` must only make async-signal-safe calls; `arg` must stay valid for the child's use.
pub(crate) unsafe fn clone3_vfork(
    args: &mut uapi::clone_args,
    f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> libc::c_long {
    let ret: libc::c_long;
    // SAFETY: the caller's contract. In the parent only rax (the result), rcx and r11 (the
    // syscall instruction) change and nothing is pushed. The child never leaves the assembly:
    // it runs `f` on the new stack, whose top the kernel put in rsp (16-byte aligned, so `call`
    // leaves the alignment the ABI expects), then `exit`s.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            exit = const libc::SYS_exit,
            inlateout("rax") uapi::SYS_clone3 => ret,
            in("rdi") args as *mut uapi::clone_args,
            in("rsi") uapi::CLONE_ARGS_SIZE_VER0,
            in("r12") arg,
            in("r13") f,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}
