//! Shared memory left in `/dev/shm`, watched with the real binary. A test
//! binary of its own: the host's `Shmem` is what it measures, and the
//! watches in `cli.rs` move it by hundreds of MiB (`targets.py` holds its
//! memory in shared anonymous mappings, which the kernel counts as
//! shared memory); test binaries run one after another, so nothing else
//! runs beside this one.

mod common;

use common::{fixture, outcome_of, report, run_with, skip};

#[test]
fn watch_shared_memory_left_in_dev_shm_fails_sys_shmem_with_rss_flat() {
    // 12 MiB/min written into /dev/shm files closed and never unlinked:
    // no process's RSS counts them, the host's Shmem does.
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() {
        skip("watch_shared_memory_left_in_dev_shm", "no /dev/shm here");
        return;
    }
    let tag = format!("memsoak-cli-{}", std::process::id());
    let fixture_path = fixture("shm.py");
    let o = run_with(
        &[
            "watch",
            "--duration",
            "40s",
            "--sample-every",
            "500ms",
            "-t",
            "rss.slope<2MiB/min",
            "-t",
            "sys_shmem.slope<2MiB/min",
            "-q",
        ],
        &[
            "python3",
            fixture_path.as_str(),
            "--leak",
            "12",
            "--tag",
            tag.as_str(),
        ],
        &[],
    );
    let left: Vec<_> = std::fs::read_dir(shm)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&tag))
        .collect();
    for e in &left {
        let _ = std::fs::remove_file(e.path());
    }
    assert!(left.len() >= 6, "the target wrote {} MiB", left.len());
    let r = report(&o.dir);
    let shmem = r["analysis"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "sys_shmem")
        .cloned()
        .unwrap_or_default();
    assert_eq!(o.code, 1, "{}\n{shmem}", o.stderr);
    assert_eq!(outcome_of(&r, "rss.slope<2MiB/min"), "pass");
    assert_eq!(outcome_of(&r, "sys_shmem.slope<2MiB/min"), "fail");
    let c = &r["classification"];
    assert_eq!(c["pattern"], "shared_memory", "{c}");
    // The tree does not run the host out; what it left in /dev/shm does,
    // on a line of its own.
    let p = &r["projection"];
    assert!(p["out_of_memory"]["seconds"].is_null(), "{p}");
    let shm_line = p["shared_memory"]["text"].as_str().unwrap_or_default();
    assert!(
        shm_line.starts_with("host shared memory grows (sys_shmem ")
            && shm_line.contains("the host's available memory gone in"),
        "{p}"
    );
}
