//! memsoak: soak-test embedding inference for memory leaks.
//!
//! Data flows one way: workload → pipeline/target → samplers → recorder
//! (disk) → analysis → verdict → exporters.

pub mod analysis;
pub mod app;
pub mod backend;
pub mod baseline;
pub mod classify;
pub mod cli;
pub mod compare;
pub mod config;
pub mod options;
pub mod pipeline;
pub mod processes;
pub mod progress;
pub mod projection;
pub mod record;
pub mod report;
pub mod reporting;
pub mod runfolder;
pub mod sample;
pub mod session;
pub mod stats;
pub mod target;
pub mod threshold;
pub mod trace;
pub mod units;
pub mod workload;
pub mod writer;
