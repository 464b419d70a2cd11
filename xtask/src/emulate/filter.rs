//! The seccomp filter: x86_64 syscall numbers and uapi constants, the rules (a syscall number
//! and conditions on its register arguments, first match wins) and their compilation to
//! classic BPF.

// x86_64 syscall numbers.
pub(super) const NR_IOCTL: u32 = 16;
pub(super) const NR_SETSOCKOPT: u32 = 54;
pub(super) const NR_GETSOCKOPT: u32 = 55;
pub(super) const NR_CLONE: u32 = 56;
pub(super) const NR_FSTATFS: u32 = 138;
pub(super) const NR_WAITID: u32 = 247;
pub(super) const NR_NAME_TO_HANDLE_AT: u32 = 303;
pub(super) const NR_OPEN_BY_HANDLE_AT: u32 = 304;
pub(super) const NR_SETNS: u32 = 308;
pub(super) const NR_PIDFD_SEND_SIGNAL: u32 = 424;
pub(super) const NR_PIDFD_OPEN: u32 = 434;
pub(super) const NR_CLONE3: u32 = 435;
pub(super) const NR_PIDFD_GETFD: u32 = 438;
pub(super) const NR_PROCESS_MADVISE: u32 = 440;
pub(super) const NR_PROCESS_MRELEASE: u32 = 448;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
pub(super) const P_PIDFD: u32 = 3;
pub(super) const CLONE_PIDFD: u32 = 0x1000;
pub(super) const CLONE_THREAD: u32 = 0x10000;
pub(super) const SO_PASSPIDFD: u32 = 76;
pub(super) const SO_PEERPIDFD: u32 = 77;
pub(super) const AT_EMPTY_PATH: u32 = 0x1000;
pub(super) const PIDFS_MAGIC: i64 = 0x5049_4446;
pub(super) const PIDFS_IOCTL_TYPE: u32 = 0xff;
pub(super) const NSFS_IOCTL_TYPE: u32 = 0xb7;
pub(super) const ANON_INODE_FS_MAGIC: i64 = 0x0904_1934;

pub(super) const RET_ALLOW: u32 = 0x7fff_0000;
pub(super) const NOTIFY: u32 = 0x7fc0_0000; // SECCOMP_RET_USER_NOTIF

pub(super) fn errno(e: i32) -> u32 {
    0x0005_0000 | (e as u32 & 0xffff) // SECCOMP_RET_ERRNO
}

/// A condition on the syscall's arguments (`lo`/`hi`: 32-bit halves).
#[derive(Clone, Copy, Debug)]
pub(super) enum Atom {
    /// `lo(arg) & mask != 0`.
    LoAny(usize, u32),
    /// `hi(arg) != 0`.
    HiNonzero(usize),
    /// `lo(arg) == value`.
    LoEq(usize, u32),
    /// `ioctl` cmd (arg 1) of type `.0` with number in `.1..=.2`.
    Ioctl(u32, u32, u32),
}

/// `nr` with all `atoms` true gets `action`.
#[derive(Clone, Debug)]
pub(super) struct Rule {
    pub(super) nr: u32,
    pub(super) atoms: Vec<Atom>,
    pub(super) action: u32,
}

impl Rule {
    pub(super) fn new(nr: u32, atoms: Vec<Atom>, action: u32) -> Self {
        Self { nr, atoms, action }
    }
}

// Classic BPF.
const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE: u16 = 0x35;
const JGT: u16 = 0x25;
const JSET: u16 = 0x45;
const AND: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RET: u16 = 0x06; // BPF_RET | BPF_K
/// Jump target placeholder: "this rule does not apply".
const NEXT: u8 = 0xff;

fn insn(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

fn lo(arg: usize) -> u32 {
    16 + 8 * arg as u32 // offsetof(seccomp_data, args[arg]), little endian
}

fn compile_rule(r: &Rule) -> Vec<libc::sock_filter> {
    let mut v = vec![insn(LD_ABS, 0, 0, 0), insn(JEQ, r.nr, 0, NEXT)];
    for a in &r.atoms {
        match *a {
            Atom::LoAny(arg, mask) => {
                v.push(insn(LD_ABS, lo(arg), 0, 0));
                v.push(insn(JSET, mask, 0, NEXT));
            }
            Atom::HiNonzero(arg) => {
                v.push(insn(LD_ABS, lo(arg) + 4, 0, 0));
                v.push(insn(JEQ, 0, NEXT, 0));
            }
            Atom::LoEq(arg, value) => {
                v.push(insn(LD_ABS, lo(arg), 0, 0));
                v.push(insn(JEQ, value, 0, NEXT));
            }
            Atom::Ioctl(ty, first, last) => {
                v.push(insn(LD_ABS, lo(1), 0, 0));
                v.push(insn(AND, 0xff00, 0, 0));
                v.push(insn(JEQ, ty << 8, 0, NEXT));
                v.push(insn(LD_ABS, lo(1), 0, 0));
                v.push(insn(AND, 0xff, 0, 0));
                v.push(insn(JGE, first, 0, NEXT));
                v.push(insn(JGT, last, NEXT, 0));
            }
        }
    }
    v.push(insn(RET, r.action, 0, 0));
    let len = v.len();
    for (i, ins) in v.iter_mut().enumerate() {
        let to_next = u8::try_from(len - (i + 1)).expect("rules are short");
        if ins.code & 0x07 == 0x05 {
            if ins.jt == NEXT {
                ins.jt = to_next;
            }
            if ins.jf == NEXT {
                ins.jf = to_next;
            }
        }
    }
    v
}

/// The whole program: non-x86_64 and x32 calls are allowed untouched.
pub(super) fn program(rules: &[Rule]) -> Vec<libc::sock_filter> {
    let mut p = vec![
        insn(LD_ABS, 4, 0, 0), // arch
        insn(JEQ, AUDIT_ARCH_X86_64, 1, 0),
        insn(RET, RET_ALLOW, 0, 0),
        insn(LD_ABS, 0, 0, 0), // nr
        insn(JGE, X32_SYSCALL_BIT, 0, 1),
        insn(RET, RET_ALLOW, 0, 0),
    ];
    for r in rules {
        p.extend(compile_rule(r));
    }
    p.push(insn(RET, RET_ALLOW, 0, 0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulate::Profile;
    use crate::matrix::config::Version;

    #[test]
    fn rules_compile_with_short_jumps() {
        for p in [Profile::Kernel(Version(5, 3)), Profile::Kernel(Version(6, 12)), Profile::ContainerEperm] {
            let prog = program(&p.rules());
            assert!(prog.len() < 4096);
            assert_eq!(prog.last().unwrap().k, RET_ALLOW);
        }
    }
}
