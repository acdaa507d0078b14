//! Host-wide memory: `MemAvailable`, swap in use and shared memory
//! (`Shmem`: tmpfs, `/dev/shm`), from `/proc/meminfo`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::{Metric, Sampler};

/// Reads `/proc/meminfo` through one open handle (re-read from offset 0).
pub struct SystemSampler {
    file: File,
    buf: Vec<u8>,
}

impl SystemSampler {
    /// Open `/proc/meminfo`; `None` where it does not exist (not Linux).
    pub fn new() -> Option<Self> {
        let file = File::open("/proc/meminfo").ok()?;
        Some(SystemSampler {
            file,
            buf: Vec::with_capacity(4096),
        })
    }
}

/// What the host's `/proc/meminfo` says, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostMem {
    /// `MemAvailable`.
    pub available: Option<u64>,
    /// `SwapTotal` − `SwapFree`.
    pub swap_used: Option<u64>,
    /// `Shmem`: shared memory and tmpfs (`/dev/shm`), which no process's
    /// RSS counts once nothing maps it.
    pub shmem: Option<u64>,
}

/// Parse the `Key:   123 kB` lines of `/proc/meminfo`.
pub fn parse_meminfo(text: &[u8]) -> HostMem {
    let (mut avail, mut swap_total, mut swap_free, mut shmem) = (None, None, None, None);
    for line in text.split(|&b| b == b'\n') {
        let slot = if line.starts_with(b"MemAvailable:") {
            &mut avail
        } else if line.starts_with(b"SwapTotal:") {
            &mut swap_total
        } else if line.starts_with(b"SwapFree:") {
            &mut swap_free
        } else if line.starts_with(b"Shmem:") {
            &mut shmem
        } else {
            continue;
        };
        *slot = super::proc::kb_value(line);
    }
    let swap_used = match (swap_total, swap_free) {
        (Some(t), Some(f)) => Some(t.saturating_sub(f)),
        _ => None,
    };
    HostMem {
        available: avail,
        swap_used,
        shmem,
    }
}

impl Sampler for SystemSampler {
    fn metrics(&self) -> &[Metric] {
        &[Metric::SysAvailable, Metric::SysSwapUsed, Metric::SysShmem]
    }

    fn sample(&mut self, out: &mut [Option<u64>]) {
        self.buf.clear();
        if self.file.seek(SeekFrom::Start(0)).is_err()
            || self.file.read_to_end(&mut self.buf).is_err()
        {
            return;
        }
        let m = parse_meminfo(&self.buf);
        out[0] = m.available;
        out[1] = m.swap_used;
        out[2] = m.shmem;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo() {
        let t = b"MemTotal:       24000000 kB\nMemAvailable:   1000 kB\nSwapTotal:      2048 kB\nSwapFree:       1024 kB\nShmem:            64 kB\n";
        assert_eq!(
            parse_meminfo(t),
            HostMem {
                available: Some(1024000),
                swap_used: Some(1048576),
                shmem: Some(65536),
            }
        );
    }

    #[test]
    fn reads_this_host() {
        let mut s = SystemSampler::new().expect("linux");
        let mut out = [None; 3];
        s.sample(&mut out);
        assert!(out[0].unwrap() > 0);
        assert!(out[1].is_some() && out[2].is_some());
    }
}
