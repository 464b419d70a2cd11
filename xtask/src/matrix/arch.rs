//! The guest architectures of the kernel matrix: what differs between an x86_64 row and an
//! aarch64 row (the Rust target everything in the VM is built for, the Debian architecture of
//! the kernel and busybox packages, QEMU and its machine, the console, how the guest ends).

use super::vm::Accel;

/// A guest architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Arch {
    /// `amd64`: the host's own (KVM when it works, else TCG).
    X86_64,
    /// `arm64`: always TCG on this x86_64 host. Runs the aarch64 code that x86_64 rows cannot:
    /// the `clone3` trampoline, the syscall and ioctl numbers of that architecture.
    Aarch64,
}

impl Arch {
    /// From the Debian architecture name `kernels.toml` uses (`arch = "arm64"`).
    pub(crate) fn parse(debian: &str) -> Option<Arch> {
        match debian {
            "amd64" => Some(Arch::X86_64),
            "arm64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// The Debian architecture name (package qualifier `name:arch`).
    pub(crate) fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// The static Rust target of the init, the `features` example and the test binaries.
    pub(crate) fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
        }
    }

    /// The linker cargo is given for [`rust_target`](Arch::rust_target) when the environment
    /// names none: the host's C compiler links x86_64; aarch64 is linked by the `rust-lld`
    /// that ships with the toolchain, against the musl target's self-contained C runtime, so
    /// no cross toolchain has to be installed.
    pub(crate) fn linker(self) -> Option<&'static str> {
        match self {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some("rust-lld"),
        }
    }

    /// The QEMU system emulator, and the Debian package that has it.
    pub(crate) fn qemu(self) -> (&'static str, &'static str) {
        match self {
            Arch::X86_64 => ("qemu-system-x86_64", "qemu-system-x86"),
            Arch::Aarch64 => ("qemu-system-aarch64", "qemu-system-arm"),
        }
    }

    /// Whether KVM can run this guest on this host.
    pub(crate) fn native(self) -> bool {
        match self {
            Arch::X86_64 => cfg!(target_arch = "x86_64"),
            Arch::Aarch64 => cfg!(target_arch = "aarch64"),
        }
    }

    /// The machine, CPU and exit device arguments.
    pub(crate) fn machine_args(self, accel: Accel) -> Vec<&'static str> {
        let mut args = match accel {
            Accel::Tcg => vec!["-accel", "tcg,thread=multi"],
            Accel::Kvm => vec!["-accel", "kvm"],
        };
        match (self, accel) {
            (Arch::X86_64, Accel::Tcg) => args.extend(["-cpu", "max"]),
            (_, Accel::Kvm) => args.extend(["-cpu", "host"]),
            // The implementation-defined pointer authentication algorithm: the architected
            // one (QARMA) is slow to emulate and the guest cannot tell.
            (Arch::Aarch64, Accel::Tcg) => args.extend(["-cpu", "max,pauth-impdef=on"]),
        }
        match self {
            // The init ends QEMU through isa-debug-exit with the suite's verdict.
            Arch::X86_64 => args.extend(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]),
            // The init powers off (PSCI); the verdict is its KMATRIX-DONE line.
            Arch::Aarch64 => args.extend(["-machine", "virt"]),
        }
        args
    }

    /// The kernel's console device.
    pub(crate) fn console(self) -> &'static str {
        match self {
            Arch::X86_64 => "ttyS0",
            Arch::Aarch64 => "ttyAMA0",
        }
    }

    /// QEMU's exit status when the init reports that the suite passed: isa-debug-exit's
    /// `(0 << 1) | 1` on x86_64 (the init writes 1 for a failure: status 3); a power-off (PSCI),
    /// 0, on aarch64, whatever the verdict. Both also print the verdict (KMATRIX-DONE).
    pub(crate) fn passed_status(self) -> i32 {
        match self {
            Arch::X86_64 => 1,
            Arch::Aarch64 => 0,
        }
    }
}
