//! memsoak: soak-test embedding inference for memory leaks.
//!
//! Data flows one way: workload → pipeline/target → samplers → recorder
//! (disk) → analysis → verdict → exporters.

pub mod analysis;
pub mod backend;
pub mod cli;
#[cfg(test)]
mod layers;
pub mod promql;
pub mod report;
pub mod runfolder;
pub mod sample;
pub mod soak;
pub mod stats;
pub mod target;
pub mod trace;
pub mod units;
pub mod workload;
