//! In-process heap statistics from jemalloc (the global allocator of the
//! memsoak binary). The epoch is advanced before each read, or jemalloc
//! returns cached numbers.

use tikv_jemalloc_ctl::{epoch, epoch_mib, stats};

use super::{Metric, Sampler};

/// Turn off jemalloc's page decay (`dirty_decay_ms:-1,muzzy_decay_ms:-1`) for
/// every arena, existing and future. Returns the setting applied, or `None`
/// when `_RJEM_MALLOC_CONF` is set (the user's choice wins) or jemalloc
/// refused.
///
/// `memsoak run` does not call it: the benches do, to measure what decay
/// costs (`benches/embed.rs --decay off`, `benches/overhead.rs`).
///
/// NOTE: with decay on, jemalloc hands freed pages back to the OS and faults
/// them in again on a later batch. With decay off it keeps them: RSS becomes
/// the high-water mark of every allocation pattern met so far and only
/// climbs. memsoak's own mapped memory grew 20 MiB in 2 min (live heap flat
/// at 1.3 MiB) with the synthetic backend at 10 Hz sampling, and the default
/// candle run's RSS climbed in 4–9 MiB steps as new batch shapes came, up
/// to 2.68 MiB/min over 2 minutes; candle ran no faster for it.
pub fn disable_decay() -> Option<&'static str> {
    if std::env::var_os("_RJEM_MALLOC_CONF").is_some() {
        return None;
    }
    // SAFETY: these mallctl names take an ssize_t (and `arenas.narenas` is
    // an unsigned int).
    unsafe {
        // Future arenas first, then each existing one; an arena slot not yet
        // initialised refuses the write, and gets the new default when it is.
        for name in [&b"arenas.dirty_decay_ms\0"[..], b"arenas.muzzy_decay_ms\0"] {
            tikv_jemalloc_ctl::raw::write(name, -1isize).ok()?;
        }
        let n: u32 = tikv_jemalloc_ctl::raw::read(b"arenas.narenas\0").ok()?;
        for i in 0..n {
            for kind in ["dirty", "muzzy"] {
                let name = format!("arena.{i}.{kind}_decay_ms\0");
                let _ = tikv_jemalloc_ctl::raw::write(name.as_bytes(), -1isize);
            }
        }
    }
    Some("dirty_decay_ms:-1,muzzy_decay_ms:-1")
}

/// Reads jemalloc's `stats.*` through pre-resolved MIBs (no string lookups
/// on the sampling path).
pub struct JemallocSampler {
    epoch: epoch_mib,
    allocated: stats::allocated_mib,
    active: stats::active_mib,
    resident: stats::resident_mib,
    retained: stats::retained_mib,
    mapped: stats::mapped_mib,
}

impl JemallocSampler {
    /// `None` when this process does not run on jemalloc with stats (the
    /// control interface answers with an error then).
    pub fn new() -> Option<Self> {
        let s = JemallocSampler {
            epoch: epoch::mib().ok()?,
            allocated: stats::allocated::mib().ok()?,
            active: stats::active::mib().ok()?,
            resident: stats::resident::mib().ok()?,
            retained: stats::retained::mib().ok()?,
            mapped: stats::mapped::mib().ok()?,
        };
        s.epoch.advance().ok()?;
        // NOTE: linked but not the global allocator, jemalloc reports ~0.
        (s.allocated.read().ok()? > 0).then_some(s)
    }
}

/// The metrics jemalloc's statistics give, in the order [`JemallocSampler`]
/// reads them: memsoak's own allocator's, so only an in-process run has them.
pub const METRICS: [Metric; 5] = [
    Metric::Heap,
    Metric::HeapActive,
    Metric::HeapResident,
    Metric::HeapRetained,
    Metric::HeapMapped,
];

impl Sampler for JemallocSampler {
    fn metrics(&self) -> &[Metric] {
        &METRICS
    }

    fn sample(&mut self, out: &mut [Option<u64>]) {
        if self.epoch.advance().is_err() {
            return;
        }
        out[0] = self.allocated.read().ok().map(|v| v as u64);
        out[1] = self.active.read().ok().map(|v| v as u64);
        out[2] = self.resident.read().ok().map(|v| v as u64);
        out[3] = self.retained.read().ok().map(|v| v as u64);
        out[4] = self.mapped.read().ok().map(|v| v as u64);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decay_can_be_turned_off_at_run_time() {
        if std::env::var_os("_RJEM_MALLOC_CONF").is_some() {
            assert_eq!(super::disable_decay(), None);
            return;
        }
        assert!(super::disable_decay().is_some());
        // SAFETY: reading an ssize_t mallctl.
        let v: isize = unsafe { tikv_jemalloc_ctl::raw::read(b"arenas.dirty_decay_ms\0").unwrap() };
        assert_eq!(v, -1);
    }
}
