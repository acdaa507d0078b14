//! Black-box targets: a command memsoak spawns (or a pid it attaches to),
//! whose whole process tree is sampled and, at the end, stopped.
//!
//! A spawned target gets its own process group and `PR_SET_PDEATHSIG`, so a
//! memsoak killed outright does not leave it running; memsoak also makes
//! itself a child subreaper so orphaned grandchildren stay findable.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::sample::proc;

/// Bytes of the target's stderr kept for the report.
const TAIL_BYTES: usize = 4096;

/// How long processes get to die after SIGKILL before they count as left.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// How a target stands or ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TargetStatus {
    /// Still running.
    Running,
    /// Exited with this code.
    Exited {
        /// Exit code.
        code: i32,
    },
    /// Killed by a signal.
    Signalled {
        /// Signal number.
        signal: i32,
        /// Signal name (`SIGKILL`).
        name: String,
        /// Whether memsoak sent it, stopping the tree at the end of a soak
        /// (its `--duration`, a fail-fast stop, an interrupt): no crash and
        /// no signal from outside. Absent (false) in reports written before
        /// it was recorded, and wherever it is not memsoak's own.
        #[serde(default, skip_serializing_if = "is_false")]
        by_memsoak: bool,
    },
    /// An attached pid disappeared (its exit status is not ours to know).
    Gone,
}

impl TargetStatus {
    /// Whether the target ended in a way that counts as a failure (non-zero
    /// exit or a signal memsoak did not send).
    pub fn is_failure(&self) -> bool {
        matches!(self, TargetStatus::Exited { code } if *code != 0)
            || matches!(
                self,
                TargetStatus::Signalled {
                    by_memsoak: false,
                    ..
                }
            )
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            TargetStatus::Running => "running".into(),
            TargetStatus::Exited { code } => format!("exited with status {code}"),
            TargetStatus::Signalled {
                name,
                by_memsoak: true,
                ..
            } => format!("stopped by memsoak ({name})"),
            TargetStatus::Signalled { name, signal, .. } => {
                format!("killed by {name} (signal {signal})")
            }
            TargetStatus::Gone => "exited (status unknown: attached by pid)".into(),
        }
    }

    /// This status, marked as memsoak's own stop where it is the signal
    /// memsoak sent the tree: SIGTERM, or SIGKILL once the grace had run
    /// out (`killed`).
    fn stopped_by_memsoak(self, killed: bool) -> TargetStatus {
        match self {
            TargetStatus::Signalled { signal, name, .. }
                if signal == libc::SIGTERM || (killed && signal == libc::SIGKILL) =>
            {
                TargetStatus::Signalled {
                    signal,
                    name,
                    by_memsoak: true,
                }
            }
            other => other,
        }
    }
}

/// For serde: a flag that is off is left out of the file.
fn is_false(b: &bool) -> bool {
    !*b
}

/// The name of a signal number.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    name.into()
}

/// What stopping the tree took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopOutcome {
    /// Processes that were alive when the stop began.
    pub processes: usize,
    /// Whether SIGKILL was needed after the grace period.
    pub killed: bool,
    /// Processes still alive afterwards (should be 0).
    pub left: usize,
}

/// A target as the report shows it: a `watch` target, or the worker or
/// server process behind a backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// Root pid.
    pub pid: u32,
    /// Command line, when memsoak spawned it.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// How it ended.
    pub status: TargetStatus,
    /// How the tree was stopped (when memsoak stopped it).
    #[serde(default)]
    pub stop: Option<StopOutcome>,
    /// Last bytes of its stderr.
    #[serde(default)]
    pub stderr_tail: String,
}

impl TargetReport {
    /// How the target ended, for people, in a run that `ended_by` (the
    /// report's `ended_by`): a stop of memsoak's own says why it came.
    ///
    /// ```
    /// use memsoak::target::{TargetReport, TargetStatus};
    /// let t = TargetReport {
    ///     pid: 7,
    ///     command: None,
    ///     status: TargetStatus::Signalled { signal: 15, name: "SIGTERM".into(), by_memsoak: true },
    ///     stop: None,
    ///     stderr_tail: String::new(),
    /// };
    /// assert_eq!(t.describe("duration"), "stopped by memsoak (SIGTERM) at the end of --duration");
    /// ```
    pub fn describe(&self, ended_by: &str) -> String {
        let how = self.status.describe();
        if !matches!(
            self.status,
            TargetStatus::Signalled {
                by_memsoak: true,
                ..
            }
        ) {
            return how;
        }
        let why = match ended_by {
            "duration" => "at the end of --duration",
            "fail_fast" => "on a fail-fast stop",
            "interrupted" => "when memsoak was interrupted",
            "workload_exhausted" => "when the workload ran out",
            "backend_error" => "after the backend failed",
            "output_error" => "after an output error",
            _ => "at the end of the run",
        };
        format!("{how} {why}")
    }
}

/// A watched process tree.
pub struct Target {
    pid: u32,
    child: Option<Child>,
    watchdog: Option<Watchdog>,
    status: TargetStatus,
    tail: Arc<Mutex<VecDeque<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
    /// Set once the tree has been stopped.
    stopped: Option<StopOutcome>,
}

/// Make this process a child subreaper: orphaned descendants of a target are
/// re-parented to memsoak (not init), so they can still be found and stopped.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

impl Target {
    /// Spawn `argv` in its own process group. Its stderr is copied to
    /// `stderr_log` (and to memsoak's stderr unless `quiet`), and the last
    /// 4 KiB are kept for the report.
    pub fn spawn(argv: &[String], stderr_log: &Path, quiet: bool) -> io::Result<Target> {
        Self::spawn_env(argv, stderr_log, quiet, false, &[])
    }

    /// Like [`Target::spawn`], with `env` set on top of memsoak's own
    /// environment; with `piped`, stdin and stdout are pipes for
    /// [`Target::take_stdio`] (a JSON Lines worker), else stdin is null and
    /// stdout inherited.
    pub fn spawn_env(
        argv: &[String],
        stderr_log: &Path,
        quiet: bool,
        piped: bool,
        env: &[(String, std::ffi::OsString)],
    ) -> io::Result<Target> {
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::other("no command given"))?;
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .stdin(if piped { Stdio::piped() } else { Stdio::null() })
            .stderr(Stdio::piped())
            .process_group(0)
            .envs(env.iter().map(|(k, v)| (k, v)));
        if piped {
            cmd.stdout(Stdio::piped());
        }
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork
        // and exec.
        unsafe {
            let parent = libc::getpid();
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                // NOTE: the parent may have died before prctl took effect.
                if libc::getppid() != parent {
                    libc::_exit(137);
                }
                Ok(())
            });
        }
        Self::from_command(cmd, stderr_log, quiet)
    }

    /// Spawn a prepared command (stdin/stdout as the caller set them).
    pub fn from_command(mut cmd: Command, stderr_log: &Path, quiet: bool) -> io::Result<Target> {
        let mut child = cmd.spawn()?;
        let mut log = File::create(stderr_log)?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_BYTES)));
        let stderr_thread = child.stderr.take().map(|mut err| {
            let tail = tail.clone();
            std::thread::Builder::new()
                .name("memsoak-target-stderr".into())
                .spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = err.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let _ = log.write_all(&buf[..n]);
                        if !quiet {
                            let _ = io::stderr().write_all(&buf[..n]);
                        }
                        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                        t.extend(&buf[..n]);
                        while t.len() > TAIL_BYTES {
                            t.pop_front();
                        }
                    }
                    let _ = log.flush();
                })
                .expect("spawn stderr thread")
        });
        let pid = child.id();
        Ok(Target {
            pid,
            watchdog: Watchdog::start(pid as i32),
            child: Some(child),
            status: TargetStatus::Running,
            tail,
            stderr_thread,
            stopped: None,
        })
    }

    /// Can `prog` be started: a path to an executable file, or a name
    /// found as one on `$PATH` (as `execvp` looks for it). Asked before
    /// a run folder is made, so that a mistyped command is one line and
    /// exit 2 with nothing left behind.
    ///
    /// NOTE: written here rather than taken from the `which` crate: the
    /// look is a dozen lines on std, and the spawn that follows gives the
    /// final word (a file that passes here may still fail to exec: a bad
    /// interpreter line; that is reported as before).
    pub fn startable(prog: &str) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let executable = |p: &Path| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if prog.is_empty() {
            return Err("an empty command".into());
        }
        if prog.contains('/') {
            let p = Path::new(prog);
            return match std::fs::metadata(p) {
                Err(e) => Err(e.to_string()),
                Ok(m) if m.is_dir() => Err("is a directory".into()),
                Ok(_) if !executable(p) => Err("not executable".into()),
                Ok(_) => Ok(()),
            };
        }
        // NOTE: with no $PATH, execvp looks in its own default.
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
        if std::env::split_paths(&path).any(|d| executable(&d.join(prog))) {
            Ok(())
        } else {
            Err("not found on $PATH".into())
        }
    }

    /// Attach to a running process (not ours: it is sampled, never stopped).
    pub fn attach(pid: u32) -> Result<Target, String> {
        if !proc::alive(pid) {
            return Err(format!("no running process with pid {pid}"));
        }
        // NOTE: sampled for its whole run, a kernel thread then read "the
        // target was gone before the first sample".
        if proc::kernel_thread(pid) {
            return Err(format!(
                "pid {pid} is a kernel thread: it has no memory of its own to watch"
            ));
        }
        // NOTE: a process that starts memsoak on itself (the pytest plugin,
        // `memsoak watch --pid $$`) has memsoak in its tree: memsoak's own
        // memory is never the target's.
        proc::exclude_from_trees(std::process::id());
        Ok(Target {
            pid,
            watchdog: None,
            child: None,
            status: TargetStatus::Running,
            tail: Arc::default(),
            stderr_thread: None,
            stopped: None,
        })
    }

    /// The root pid of the tree.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether memsoak spawned this target (and so owns stopping it).
    pub fn owned(&self) -> bool {
        self.child.is_some()
    }

    /// Check (without blocking) whether the root process has ended.
    pub fn poll(&mut self) -> TargetStatus {
        if self.status != TargetStatus::Running {
            return self.status.clone();
        }
        self.status = match &mut self.child {
            Some(c) => match c.try_wait() {
                Ok(Some(st)) => status_of(st),
                _ => TargetStatus::Running,
            },
            None if proc::alive(self.pid) => TargetStatus::Running,
            None => TargetStatus::Gone,
        };
        self.status.clone()
    }

    /// The last bytes the target wrote to stderr (lossy UTF-8).
    pub fn stderr_tail(&self) -> String {
        let t = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let (a, b) = t.as_slices();
        let mut v = a.to_vec();
        v.extend_from_slice(b);
        String::from_utf8_lossy(&v).into_owned()
    }

    /// [`Target::stderr_tail`] once the stderr pipe has reached its end, or
    /// after `wait` (a descendant may hold the pipe open): the last words of
    /// a target that just died are often still in the pipe.
    pub fn stderr_tail_settled(&self, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        while self
            .stderr_thread
            .as_ref()
            .is_some_and(|t| !t.is_finished())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stderr_tail()
    }

    /// Stop the whole tree: SIGTERM to the group and every descendant, wait
    /// up to `grace`, then SIGKILL what is left, and reap. A target attached
    /// by pid is left alone.
    ///
    /// Idempotent: a second call returns the first outcome without
    /// signalling again (the group id may belong to someone else by then).
    pub fn stop_tree(&mut self, grace: Duration) -> StopOutcome {
        if let Some(done) = &self.stopped {
            return done.clone();
        }
        let Some(child) = self.child.as_mut() else {
            return StopOutcome {
                processes: 0,
                killed: false,
                left: 0,
            };
        };
        let pgid = self.pid as i32;
        // NOTE: snapshot the tree before signalling: once the root dies its
        // children are re-parented and can no longer be found from it.
        let mut pids: Vec<u32> = proc::process_tree(self.pid)
            .into_iter()
            .filter(|p| proc::alive(*p))
            .collect();
        let processes = pids.len();
        let signal_all = |pids: &[u32], sig: i32| {
            // SAFETY: plain kill(2) calls.
            unsafe {
                libc::kill(-pgid, sig);
                for p in pids {
                    libc::kill(*p as i32, sig);
                }
            }
        };
        signal_all(&pids, libc::SIGTERM);
        let mut deadline = Instant::now() + grace;
        let mut killed = false;
        loop {
            if let Ok(Some(st)) = child.try_wait()
                && self.status == TargetStatus::Running
            {
                self.status = status_of(st).stopped_by_memsoak(killed);
            }
            reap_orphans();
            pids.retain(|p| proc::alive(*p));
            // SAFETY: signal 0 only checks for existence of group members.
            let group_alive = unsafe { libc::kill(-pgid, 0) } == 0 && group_has_live_member(pgid);
            if pids.is_empty() && !group_alive {
                break;
            }
            if Instant::now() >= deadline {
                if killed {
                    break;
                }
                signal_all(&pids, libc::SIGKILL);
                killed = true;
                // NOTE: SIGKILL is not instant: a process with a large
                // address space takes a while to tear down. Give it time to
                // die before counting it as left behind.
                deadline = Instant::now() + KILL_WAIT;
                continue;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(st) = child.wait()
            && self.status == TargetStatus::Running
        {
            self.status = status_of(st).stopped_by_memsoak(killed);
        }
        reap_orphans();
        if let Some(w) = self.watchdog.take() {
            w.release();
        }
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        let outcome = StopOutcome {
            processes,
            killed,
            left: pids.iter().filter(|p| proc::alive(**p)).count(),
        };
        self.stopped = Some(outcome.clone());
        outcome
    }

    /// Take the child's stdin and stdout (when they were piped).
    pub fn take_stdio(
        &mut self,
    ) -> (
        Option<std::process::ChildStdin>,
        Option<std::process::ChildStdout>,
    ) {
        match &mut self.child {
            Some(c) => (c.stdin.take(), c.stdout.take()),
            None => (None, None),
        }
    }

    /// The final status (after `poll` or `stop_tree`).
    pub fn status(&self) -> &TargetStatus {
        &self.status
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if self.child.is_some() && self.stopped.is_none() {
            self.stop_tree(Duration::from_secs(2));
        }
    }
}

/// Kills a target's process group if memsoak dies without stopping it.
///
/// `PR_SET_PDEATHSIG` only reaches the direct child; its children would
/// survive a SIGKILLed memsoak. The watchdog is a tiny shell blocked reading
/// a pipe whose only writer is memsoak: when memsoak dies, for any reason,
/// the read returns and the shell kills the whole group.
struct Watchdog {
    child: Child,
    pipe: Option<std::process::ChildStdin>,
}

impl Watchdog {
    fn start(pgid: i32) -> Option<Watchdog> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "read _ignored; kill -9 -{pgid} 2>/dev/null; exit 0"
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // NOTE: its own group, so stopping the target never stops it.
            .process_group(0)
            .spawn()
            .ok()?;
        proc::exclude_from_trees(child.id());
        let pipe = child.stdin.take();
        Some(Watchdog { child, pipe })
    }

    /// The target is stopped: let the watchdog exit and reap it.
    fn release(mut self) {
        self.pipe = None;
        let _ = self.child.wait();
        proc::include_in_trees(self.child.id());
    }
}

fn status_of(st: std::process::ExitStatus) -> TargetStatus {
    match (st.code(), st.signal()) {
        (Some(code), _) => TargetStatus::Exited { code },
        (None, Some(signal)) => TargetStatus::Signalled {
            signal,
            name: signal_name(signal),
            by_memsoak: false,
        },
        (None, None) => TargetStatus::Exited { code: -1 },
    }
}

/// Whether any non-zombie process is in group `pgid` (a zombie member keeps
/// `kill(-pgid, 0)` succeeding).
fn group_has_live_member(pgid: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return false;
        };
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        // fields after comm: state ppid pgrp
        f.len() > 2 && f[0] != "Z" && f[2].parse::<i32>().ok() == Some(pgid)
    })
}

/// Reap zombies re-parented to memsoak (as subreaper), other than children
/// std still owns (those are reaped through their `Child`). A `watch` of a
/// target that double-forks calls it regularly, so zombies do not pile up
/// for hours. O(processes) reads of `/proc/<pid>/stat`.
pub fn reap_orphans() {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        if f.len() > 1 && f[0] == "Z" && f[1].parse::<u32>().ok() == Some(me) {
            // NOTE: only zombies whose group is not their own pid: a group
            // leader we spawned is reaped through std's Child.
            if f.get(2).and_then(|g| g.parse::<i32>().ok()) != Some(pid) {
                // SAFETY: waitpid on a specific zombie child.
                unsafe {
                    libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn stops_a_tree_including_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Target::spawn(
            &sh("sleep 30 & (sleep 30 &) ; trap '' TERM; echo started >&2; sleep 30"),
            &dir.path().join("err.log"),
            true,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let tree = proc::process_tree(t.pid());
        assert!(tree.len() >= 2, "{tree:?}");
        assert_eq!(t.poll(), TargetStatus::Running);
        let out = t.stop_tree(Duration::from_millis(300));
        assert!(out.killed, "the shell ignores TERM: SIGKILL was needed");
        assert_eq!(out.left, 0);
        // Stopping again (Drop does) must not signal a group id that may
        // belong to someone else by now: it returns the first outcome.
        assert_eq!(t.stop_tree(Duration::from_millis(300)), out);
        assert!(tree.iter().all(|p| !proc::alive(*p)));
        assert!(t.stderr_tail().contains("started"));
        // The SIGKILL was memsoak's own, after the grace: no failure.
        assert_eq!(
            t.status(),
            &TargetStatus::Signalled {
                signal: 9,
                name: "SIGKILL".into(),
                by_memsoak: true
            }
        );
        assert!(!t.status().is_failure());
    }

    #[test]
    fn a_stop_of_memsoaks_own_is_told_from_a_signal_from_outside() {
        // Regression: a target memsoak stopped with SIGTERM at the end of
        // --duration read "killed by SIGTERM (signal 15)", like a crash.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("e.log");
        let mut t = Target::spawn(&sh("sleep 30"), &log, true).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let out = t.stop_tree(Duration::from_secs(5));
        assert!(!out.killed);
        let report = |status: &TargetStatus| TargetReport {
            pid: 1,
            command: None,
            status: status.clone(),
            stop: Some(out.clone()),
            stderr_tail: String::new(),
        };
        assert_eq!(
            report(t.status()).describe("duration"),
            "stopped by memsoak (SIGTERM) at the end of --duration"
        );
        assert_eq!(
            report(t.status()).describe("fail_fast"),
            "stopped by memsoak (SIGTERM) on a fail-fast stop"
        );
        assert!(!t.status().is_failure());
        // The same signal, sent by someone else, before memsoak stopped it.
        let mut t = Target::spawn(&sh("kill -TERM $$"), &log, true).unwrap();
        let start = Instant::now();
        while t.poll() == TargetStatus::Running && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        t.stop_tree(Duration::from_millis(100));
        assert_eq!(
            report(t.status()).describe("target_failed"),
            "killed by SIGTERM (signal 15)"
        );
        assert!(t.status().is_failure());
    }

    #[test]
    fn reports_exit_code_and_signal() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("e.log");
        let mut t = Target::spawn(&sh("echo boom >&2; exit 7"), &log, true).unwrap();
        let start = Instant::now();
        while t.poll() == TargetStatus::Running && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(t.poll(), TargetStatus::Exited { code: 7 });
        t.stop_tree(Duration::from_millis(100));
        assert_eq!(t.stderr_tail(), "boom\n");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "boom\n");

        let mut t = Target::spawn(&sh("kill -9 $$"), &log, true).unwrap();
        let start = Instant::now();
        while t.poll() == TargetStatus::Running && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            t.poll(),
            TargetStatus::Signalled {
                signal: 9,
                name: "SIGKILL".into(),
                by_memsoak: false
            }
        );
    }

    #[test]
    fn attach_checks_the_pid() {
        assert!(Target::attach(u32::MAX - 3).is_err());
        let t = Target::attach(std::process::id()).unwrap();
        assert!(!t.owned());
    }
}
