//! A newc ("070701") cpio writer for the initramfs, no compression.

use std::io::Write;

/// Builds an archive in memory; entries are written in the order added.
#[derive(Default)]
pub(crate) struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8]) {
        self.ino += 1;
        let namesize = name.len() + 1;
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: reproducible
            u32::try_from(data.len()).expect("initramfs entries are < 4 GiB"),
            0, // devmajor
            0, // devminor
            0, // rdevmajor
            0, // rdevminor
            u32::try_from(namesize).expect("short names"),
            0, // check
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            write!(self.buf, "{f:08x}").expect("writing to a Vec");
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// A directory (parents must be added first).
    pub(crate) fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, 2, &[]);
    }

    /// A regular file with permission bits `perm`.
    pub(crate) fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, S_IFREG | perm, 1, data);
    }

    /// A symbolic link `name -> target`.
    pub(crate) fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, 1, target.as_bytes());
    }

    /// Appends the trailer and returns the archive.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, 1, &[]);
        // The kernel reads initramfs in 512-byte blocks like cpio(1) writes.
        while !self.buf.len().is_multiple_of(512) {
            self.buf.push(0);
        }
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::Cpio;

    #[test]
    fn layout() {
        let mut c = Cpio::default();
        c.dir("tests");
        c.file("init", 0o755, b"abc");
        c.symlink("bin/sh", "busybox");
        let out = c.finish();
        assert_eq!(&out[..6], b"070701");
        assert_eq!(out.len() % 512, 0);
        // header (110) + "tests\0" (6) = 116, already aligned; next header follows.
        assert_eq!(&out[116..122], b"070701");
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("TRAILER!!!"));
        // File size field of "init" is 3.
        let init_hdr = 116;
        assert_eq!(&text[init_hdr + 6 + 6 * 8..init_hdr + 6 + 7 * 8], "00000003");
        // cpio(1) can list it, when installed.
        if let Ok(mut child) = std::process::Command::new("cpio")
            .args(["-t", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(&out).unwrap();
            let o = child.wait_with_output().unwrap();
            assert_eq!(String::from_utf8_lossy(&o.stdout), "tests\ninit\nbin/sh\n");
        }
    }
}
