//! GPU memory through NVML: `vram` (the target tree's processes) and
//! `vram_device` (every process on the devices).
//!
//! Without a driver `Nvml::init()` fails: the sampler is then not built and
//! the metrics are absent from the run (never a column of zeros).

#[cfg(feature = "nvml")]
use super::Metric;
use super::Sampler;

/// Samples GPU memory of a process tree and of all devices.
#[cfg(feature = "nvml")]
pub struct NvmlSampler {
    nvml: nvml_wrapper::Nvml,
    devices: u32,
    root: u32,
}

#[cfg(feature = "nvml")]
impl NvmlSampler {
    /// `Err` with the reason when NVML or a GPU is not available.
    pub fn new(root: u32) -> Result<Self, String> {
        let nvml = nvml_wrapper::Nvml::init().map_err(|e| format!("NVML unavailable: {e}"))?;
        let devices = nvml.device_count().map_err(|e| format!("NVML: {e}"))?;
        if devices == 0 {
            return Err("NVML: no GPU".into());
        }
        Ok(NvmlSampler {
            nvml,
            devices,
            root,
        })
    }
}

#[cfg(feature = "nvml")]
impl Sampler for NvmlSampler {
    fn metrics(&self) -> &[Metric] {
        &[Metric::Vram, Metric::VramDevice]
    }

    fn sample(&mut self, out: &mut [Option<u64>]) {
        use nvml_wrapper::enums::device::UsedGpuMemory;
        let tree = super::proc::process_tree(self.root);
        let (mut mine, mut device) = (0u64, 0u64);
        let (mut device_ok, mut procs_ok) = (false, true);
        for i in 0..self.devices {
            let Ok(d) = self.nvml.device_by_index(i) else {
                procs_ok = false;
                continue;
            };
            if let Ok(m) = d.memory_info() {
                device += m.used;
                device_ok = true;
            }
            // NOTE: a process list that cannot be read (or a tree process
            // whose usage NVML withholds, as under MIG or in a container)
            // makes `vram` unknown for this sample: an empty cell, not 0.
            match (
                d.running_compute_processes(),
                d.running_graphics_processes(),
            ) {
                (Ok(c), Ok(g)) => {
                    for p in c.into_iter().chain(g).filter(|p| tree.contains(&p.pid)) {
                        match p.used_gpu_memory {
                            UsedGpuMemory::Used(b) => mine += b,
                            UsedGpuMemory::Unavailable => procs_ok = false,
                        }
                    }
                }
                _ => procs_ok = false,
            }
        }
        out[0] = (device_ok && procs_ok).then_some(mine);
        out[1] = device_ok.then_some(device);
    }
}

/// Build the NVML sampler for `root`, or say why there is none.
pub fn try_new(root: u32) -> Result<Box<dyn Sampler>, String> {
    #[cfg(feature = "nvml")]
    {
        NvmlSampler::new(root).map(|s| Box::new(s) as Box<dyn Sampler>)
    }
    #[cfg(not(feature = "nvml"))]
    {
        let _ = root;
        Err("built without the nvml feature".into())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn absent_gpu_is_an_error_not_zeros() {
        // NOTE: this box has no GPU; on one with a GPU the sampler must work.
        match super::try_new(std::process::id()) {
            Ok(mut s) => {
                let mut out = vec![None; s.metrics().len()];
                s.sample(&mut out);
                assert!(out[1].is_some());
            }
            Err(why) => assert!(!why.is_empty()),
        }
    }
}
