//! ioctl request encoding (`asm-generic/ioctl.h` and its per-arch overrides).
//!
//! A request number packs four fields, low bits first: number (8 bits), type or
//! "magic" (8 bits), argument size, and direction. Two layouts exist among the
//! Rust targets:
//!
//! | Layout | Architectures | `_IOC_NONE` | `_IOC_WRITE` | `_IOC_READ` | size bits | dir bits |
//! |---|---|---|---|---|---|---|
//! | generic | x86, arm, arm64, riscv, s390x, loongarch, … | 0 | 1 | 2 | 14 | 2 |
//! | OSF/1 style | powerpc, mips, sparc | 1 | 4 | 2 | 13 | 3 |
//!
//! So an argument-less `_IO(0xFF, 4)` is `0xff04` on x86_64 but `0x2000ff04` on
//! powerpc. Alpha uses the OSF/1 layout and parisc swaps `_IOC_READ` and
//! `_IOC_WRITE`, but neither has a Rust target, so they are not covered.
//!
//! Every request here is a `u32`. Cast it at the call site: `libc::ioctl` takes a
//! `c_ulong` on glibc and a `c_int` on musl.
//!
//! The encoders are `const fn`s that panic (a compile error in a `const`) when a
//! field does not fit its bits, instead of producing a wrong number.

/// True on the architectures whose `asm/ioctl.h` uses the three-bit direction
/// field inherited from OSF/1.
const OSF_LAYOUT: bool = cfg!(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips32r6",
    target_arch = "mips64",
    target_arch = "mips64r6",
    target_arch = "sparc",
    target_arch = "sparc64",
));

/// Width of the number field (8 on every architecture).
pub const _IOC_NRBITS: u32 = 8;
/// Width of the type ("magic") field (8 on every architecture).
pub const _IOC_TYPEBITS: u32 = 8;
/// Width of the argument-size field: 14 (generic) or 13 (powerpc, mips, sparc).
pub const _IOC_SIZEBITS: u32 = if OSF_LAYOUT { 13 } else { 14 };
/// Width of the direction field: 2 (generic) or 3 (powerpc, mips, sparc).
pub const _IOC_DIRBITS: u32 = if OSF_LAYOUT { 3 } else { 2 };

/// Largest value of the number field.
pub const _IOC_NRMASK: u32 = (1 << _IOC_NRBITS) - 1;
/// Largest value of the type field.
pub const _IOC_TYPEMASK: u32 = (1 << _IOC_TYPEBITS) - 1;
/// Largest value of the size field.
pub const _IOC_SIZEMASK: u32 = (1 << _IOC_SIZEBITS) - 1;
/// Largest value of the direction field.
pub const _IOC_DIRMASK: u32 = (1 << _IOC_DIRBITS) - 1;

/// Bit position of the number field.
pub const _IOC_NRSHIFT: u32 = 0;
/// Bit position of the type field.
pub const _IOC_TYPESHIFT: u32 = _IOC_NRSHIFT + _IOC_NRBITS;
/// Bit position of the size field.
pub const _IOC_SIZESHIFT: u32 = _IOC_TYPESHIFT + _IOC_TYPEBITS;
/// Bit position of the direction field.
pub const _IOC_DIRSHIFT: u32 = _IOC_SIZESHIFT + _IOC_SIZEBITS;

/// Direction: no argument is transferred. 0 (generic) or 1 (powerpc, mips, sparc).
pub const _IOC_NONE: u32 = if OSF_LAYOUT { 1 } else { 0 };
/// Direction: userspace writes, the kernel reads. 1 (generic) or 4 (powerpc, mips, sparc).
pub const _IOC_WRITE: u32 = if OSF_LAYOUT { 4 } else { 1 };
/// Direction: the kernel writes, userspace reads. 2 on every covered architecture.
pub const _IOC_READ: u32 = 2;

/// Builds a request number from its four fields, like the C macro `_IOC`.
///
/// # Panics
///
/// If a field does not fit its width (a compile error when used in a `const`).
pub const fn _IOC(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    assert!(dir <= _IOC_DIRMASK, "ioctl direction out of range");
    assert!(ty <= _IOC_TYPEMASK, "ioctl type out of range");
    assert!(nr <= _IOC_NRMASK, "ioctl number out of range");
    assert!(size <= _IOC_SIZEMASK as usize, "ioctl argument size out of range");
    (dir << _IOC_DIRSHIFT) | (ty << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT) | ((size as u32) << _IOC_SIZESHIFT)
}

/// Request without an argument (`_IO`).
///
/// # Panics
///
/// As [`_IOC`].
pub const fn _IO(ty: u32, nr: u32) -> u32 {
    _IOC(_IOC_NONE, ty, nr, 0)
}

/// Request whose argument of `size` bytes the kernel writes (`_IOR`).
///
/// # Panics
///
/// As [`_IOC`].
pub const fn _IOR(ty: u32, nr: u32, size: usize) -> u32 {
    _IOC(_IOC_READ, ty, nr, size)
}

/// Request whose argument of `size` bytes the kernel reads (`_IOW`).
///
/// # Panics
///
/// As [`_IOC`].
pub const fn _IOW(ty: u32, nr: u32, size: usize) -> u32 {
    _IOC(_IOC_WRITE, ty, nr, size)
}

/// Request whose argument of `size` bytes the kernel reads and writes (`_IOWR`).
///
/// # Panics
///
/// As [`_IOC`].
pub const fn _IOWR(ty: u32, nr: u32, size: usize) -> u32 {
    _IOC(_IOC_READ | _IOC_WRITE, ty, nr, size)
}

#[cfg(not(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips32r6",
    target_arch = "mips64",
    target_arch = "mips64r6",
    target_arch = "sparc",
    target_arch = "sparc64",
)))]
const _: () = {
    assert!(_IO(0xFF, 4) == 0xff04);
    assert!(_IOR(0xb7, 13, 8) == 0x8008_b70d);
    assert!(_IOW(0x12, 0x34, 4) == 0x4004_1234);
    assert!(_IOWR(0xFF, 11, 64) == 0xc040_ff0b);
    assert!(_IOC_DIRSHIFT == 30);
};

#[cfg(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips32r6",
    target_arch = "mips64",
    target_arch = "mips64r6",
    target_arch = "sparc",
    target_arch = "sparc64",
))]
const _: () = {
    assert!(_IO(0xFF, 4) == 0x2000_ff04);
    assert!(_IOR(0xb7, 13, 8) == 0x4008_b70d);
    assert!(_IOW(0x12, 0x34, 4) == 0x8004_1234);
    assert!(_IOWR(0xFF, 11, 64) == 0xc040_ff0b);
    assert!(_IOC_DIRSHIFT == 29);
};
