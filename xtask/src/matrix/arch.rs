//! The guest architectures of the kernel matrix: what differs between rows of different
//! architectures (the Rust target everything in the VM is built for and how it is linked, the
//! Debian architecture of the kernel and busybox packages, QEMU and its machine, the console,
//! how the guest ends).

use super::vm::Accel;

/// A guest architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Arch {
    /// `amd64`: the host's own (KVM when it works, else TCG).
    X86_64,
    /// `arm64`: always TCG on this x86_64 host. Runs the aarch64 code that x86_64 rows cannot:
    /// the `clone3` trampoline, the syscall and ioctl numbers of that architecture.
    Aarch64,
    /// `i386`: a 32-bit x86 kernel (686-pae) with 32-bit user space: the 32-bit unique id,
    /// i386's socketcall-era numbers and 32-bit struct layouts.
    I386,
    /// `armhf`: 32-bit ARM (ARMv7, LPAE kernel).
    Armhf,
    /// `ppc64el`: the powerpc ioctl encoding (`_IOC` direction bits at 29..31, 13-bit size).
    Ppc64el,
    /// `riscv64`: the generic syscall table, no vfork trampoline.
    Riscv64,
    /// `s390x`: big-endian, and `clone`'s first two arguments swapped.
    S390x,
}

/// How the binaries of a target are linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Linker {
    /// The host's C compiler (the host's own architecture).
    HostCc,
    /// The `rust-lld` that ships with the toolchain, against the musl target's self-contained C
    /// runtime: no cross toolchain has to be installed.
    RustLld,
    /// Debian's cross GCC (`gcc`), with the cross glibc of `packages`, linking a static glibc
    /// binary (`-C target-feature=+crt-static`): for the targets whose musl standard library
    /// rustup cannot install here.
    Cross {
        /// The compiler driver (`s390x-linux-gnu-gcc`).
        gcc: &'static str,
        /// The Debian packages that bring it and the static glibc.
        packages: &'static [&'static str],
    },
}

impl Arch {
    /// Every architecture, in matrix order.
    pub(crate) const ALL: [Arch; 7] =
        [Arch::X86_64, Arch::Aarch64, Arch::I386, Arch::Armhf, Arch::Ppc64el, Arch::Riscv64, Arch::S390x];

    /// From the Debian architecture name `kernels.toml` uses (`arch = "arm64"`).
    pub(crate) fn parse(debian: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.debian() == debian)
    }

    /// The Debian architecture name (package qualifier `name:arch`).
    pub(crate) fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
            Arch::I386 => "i386",
            Arch::Armhf => "armhf",
            Arch::Ppc64el => "ppc64el",
            Arch::Riscv64 => "riscv64",
            Arch::S390x => "s390x",
        }
    }

    /// The static Rust target of the init, the `features` example and the test binaries:
    /// musl where rustup has its standard library, else glibc linked statically.
    pub(crate) fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
            Arch::I386 => "i686-unknown-linux-musl",
            Arch::Armhf => "armv7-unknown-linux-gnueabihf",
            Arch::Ppc64el => "powerpc64le-unknown-linux-gnu",
            Arch::Riscv64 => "riscv64gc-unknown-linux-gnu",
            Arch::S390x => "s390x-unknown-linux-gnu",
        }
    }

    /// How [`rust_target`](Arch::rust_target) is linked when the environment names no linker.
    /// The musl standard libraries of armv7, powerpc64le and riscv64 are tier 2 targets too,
    /// but the rustup distribution server this project's machines reach does not serve them
    /// (404): those rows use glibc, statically, as s390x (which has no musl target) must.
    pub(crate) fn linker(self) -> Linker {
        match self {
            Arch::X86_64 => Linker::HostCc,
            Arch::Aarch64 | Arch::I386 => Linker::RustLld,
            Arch::Armhf => Linker::Cross {
                gcc: "arm-linux-gnueabihf-gcc",
                packages: &["gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross"],
            },
            Arch::Ppc64el => Linker::Cross {
                gcc: "powerpc64le-linux-gnu-gcc",
                packages: &["gcc-powerpc64le-linux-gnu", "libc6-dev-ppc64el-cross"],
            },
            Arch::Riscv64 => Linker::Cross {
                gcc: "riscv64-linux-gnu-gcc",
                packages: &["gcc-riscv64-linux-gnu", "libc6-dev-riscv64-cross"],
            },
            Arch::S390x => Linker::Cross {
                gcc: "s390x-linux-gnu-gcc",
                packages: &["gcc-s390x-linux-gnu", "libc6-dev-s390x-cross"],
            },
        }
    }

    /// The environment variable of cargo's linker for [`rust_target`](Arch::rust_target)
    /// (`CARGO_TARGET_S390X_UNKNOWN_LINUX_GNU_LINKER`).
    pub(crate) fn cargo_linker_var(self) -> String {
        format!("CARGO_TARGET_{}_LINKER", self.rust_target().to_uppercase().replace('-', "_"))
    }

    /// The QEMU system emulator, and the Debian package that has it (bookworm-backports).
    pub(crate) fn qemu(self) -> (&'static str, &'static str) {
        match self {
            Arch::X86_64 => ("qemu-system-x86_64", "qemu-system-x86"),
            Arch::I386 => ("qemu-system-i386", "qemu-system-x86"),
            Arch::Aarch64 => ("qemu-system-aarch64", "qemu-system-arm"),
            Arch::Armhf => ("qemu-system-arm", "qemu-system-arm"),
            Arch::Ppc64el => ("qemu-system-ppc64", "qemu-system-ppc"),
            Arch::Riscv64 => ("qemu-system-riscv64", "qemu-system-riscv"),
            Arch::S390x => ("qemu-system-s390x", "qemu-system-s390x"),
        }
    }

    /// The suite of the busybox-static package: `default` (kernels.toml's `busybox_suite`),
    /// except for riscv64, which Debian releases only from trixie on.
    pub(crate) fn busybox_suite(self, default: &str) -> String {
        match self {
            Arch::Riscv64 if default == "bookworm" || default == "bullseye" => "trixie".to_owned(),
            _ => default.to_owned(),
        }
    }

    /// Whether KVM can run this guest on this host (only guests of the host's own architecture
    /// are tried; a 32-bit guest on KVM is untested, so i386 stays TCG).
    pub(crate) fn native(self) -> bool {
        match self {
            Arch::X86_64 => cfg!(target_arch = "x86_64"),
            Arch::Aarch64 => cfg!(target_arch = "aarch64"),
            _ => false,
        }
    }

    /// The machine, CPU and exit device arguments.
    pub(crate) fn machine_args(self, accel: Accel) -> Vec<&'static str> {
        let mut args = match accel {
            Accel::Tcg => vec!["-accel", "tcg,thread=multi"],
            Accel::Kvm => vec!["-accel", "kvm"],
        };
        match (self, accel) {
            (_, Accel::Kvm) => args.extend(["-cpu", "host"]),
            (Arch::X86_64 | Arch::I386 | Arch::Armhf | Arch::S390x, Accel::Tcg) => args.extend(["-cpu", "max"]),
            // The implementation-defined pointer authentication algorithm: the architected
            // one (QARMA) is slow to emulate and the guest cannot tell.
            (Arch::Aarch64, Accel::Tcg) => args.extend(["-cpu", "max,pauth-impdef=on"]),
            // The machines' default CPUs (POWER10, rv64 with the common extensions).
            (Arch::Ppc64el | Arch::Riscv64, Accel::Tcg) => {}
        }
        match self {
            // The init ends QEMU through isa-debug-exit with the suite's verdict.
            Arch::X86_64 | Arch::I386 => args.extend(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]),
            // The init powers off (PSCI, SBI); the verdict is its KMATRIX-DONE line.
            Arch::Aarch64 | Arch::Armhf | Arch::Riscv64 => args.extend(["-machine", "virt"]),
            // QEMU's own minimal Open Firmware (VOF) instead of SLOF: the kernel is loaded as
            // given, without SLOF's slow start under TCG. Powers off through RTAS.
            Arch::Ppc64el => args.extend(["-machine", "pseries,x-vof=on"]),
            // The SCLP console is the first serial device; powers off through SIGP stop.
            Arch::S390x => args.extend(["-machine", "s390-ccw-virtio"]),
        }
        args
    }

    /// The kernel's console device.
    pub(crate) fn console(self) -> &'static str {
        match self {
            Arch::X86_64 | Arch::I386 | Arch::Riscv64 => "ttyS0",
            Arch::Aarch64 | Arch::Armhf => "ttyAMA0",
            Arch::Ppc64el => "hvc0",
            Arch::S390x => "ttysclp0",
        }
    }

    /// QEMU's exit status when the init reports that the suite passed: isa-debug-exit's
    /// `(0 << 1) | 1` on x86 (the init writes 1 for a failure: status 3); a power-off, 0,
    /// elsewhere, whatever the verdict. All also print the verdict (KMATRIX-DONE).
    pub(crate) fn passed_status(self) -> i32 {
        match self {
            Arch::X86_64 | Arch::I386 => 1,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Arch::ALL {
            assert_eq!(Arch::parse(a.debian()), Some(a));
        }
        assert_eq!(Arch::parse("mips64el"), None);
    }
}
