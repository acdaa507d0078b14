//! One full sample of every source, as the sampling thread takes it.
//! Target: a full sample ≤ 100 µs.

use criterion::{Criterion, criterion_group, criterion_main};
use memsoak::sample::{Sampler, SamplerSet, jemalloc, proc, system};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn one<S: Sampler>(c: &mut Criterion, name: &str, mut s: S) {
    let mut out = vec![None; s.metrics().len()];
    c.bench_function(name, |b| b.iter(|| s.sample(&mut out)));
}

fn bench(c: &mut Criterion) {
    // NOTE: keep some memory and a child process around so the tree walk and
    // smaps_rollup have real work, like a worker with a helper process.
    let ballast: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 1 << 20]).collect();
    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("sleep");
    let me = std::process::id();
    // NOTE: by default `pss` (smaps_rollup, a page-table walk) is read on a
    // 1% duty cycle; criterion's back-to-back iterations would skip it
    // almost always. Time both: the status-only sample and one that reads
    // smaps_rollup every time, as a 10 Hz cadence does.
    one(
        c,
        "sample/process_tree(self+1 child, status only)",
        proc::ProcessTreeSampler::new(me).with_pss_duty(1e-6),
    );
    one(
        c,
        "sample/process_tree(self+1 child, with pss)",
        proc::ProcessTreeSampler::new(me).with_pss_duty(1.0),
    );
    one(
        c,
        "sample/jemalloc",
        jemalloc::JemallocSampler::new().expect("jemalloc is global"),
    );
    one(
        c,
        "sample/system(meminfo)",
        system::SystemSampler::new().expect("linux"),
    );
    let cgroup = memsoak::sample::cgroup::of_pid(me);
    match &cgroup {
        Some(d) => one(
            c,
            "sample/cgroup(memory.current|usage, memory.stat)",
            memsoak::sample::cgroup::CgroupSampler::new(d.clone()),
        ),
        None => eprintln!("sample/cgroup: skipped (no memory cgroup of our own here)"),
    }
    if let Ok(n) = memsoak::sample::nvml::try_new(me) {
        let mut out = vec![None; n.metrics().len()];
        let mut n = n;
        c.bench_function("sample/nvml", |b| b.iter(|| n.sample(&mut out)));
    } else {
        eprintln!("sample/nvml: skipped (no NVML driver on this machine)");
    }
    for (name, duty) in [
        ("sample/full(all sources, status only)", 1e-6),
        ("sample/full(all sources, with pss)", 1.0),
    ] {
        let mut v: Vec<Box<dyn Sampler>> = vec![
            Box::new(proc::ProcessTreeSampler::new(me).with_pss_duty(duty)),
            Box::new(jemalloc::JemallocSampler::new().expect("jemalloc")),
            Box::new(system::SystemSampler::new().expect("linux")),
        ];
        // NOTE: a full sample is every source memsoak would open here.
        if let Some(d) = &cgroup {
            v.push(Box::new(memsoak::sample::cgroup::CgroupSampler::new(
                d.clone(),
            )));
        }
        if let Ok(n) = memsoak::sample::nvml::try_new(me) {
            v.push(n);
        }
        let mut set = SamplerSet::new(v);
        let mut row = Vec::new();
        c.bench_function(name, |b| b.iter(|| set.sample(&mut row)));
    }
    std::hint::black_box(&ballast);
    let _ = child.kill();
    let _ = child.wait();
}

criterion_group!(benches, bench);
criterion_main!(benches);
