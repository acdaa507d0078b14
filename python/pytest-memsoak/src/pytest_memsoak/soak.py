"""Soak one Python callable under memsoak.

:func:`run_soak` starts ``memsoak watch --pid <this process> --items-file F``,
calls the function in a loop until memsoak's duration ends, rewriting F with
the number of calls so far (memsoak's ``items``: drift per 1,000 calls), and
reads the verdict back from the run folder's ``report.json``. memsoak runs in
its own session, so a Ctrl-C on the terminal reaches only this process; every
way out of the loop (the end, an exception, KeyboardInterrupt) stops memsoak
and waits for it, so no memsoak process outlives the soak. If this process
dies outright, memsoak sees its target gone and ends on its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

#: How often the call count is written (at most): a rename per write.
WRITE_EVERY_S = 0.02
#: How long memsoak gets to write its report once told to stop.
STOP_WAIT_S = 10.0
#: How long memsoak may take to start sampling.
START_WAIT_S = 60.0


@dataclass
class SoakSettings:
    """What a soak runs for and is judged on (memsoak's own flags)."""

    #: ``--duration`` (``30s``, ``2m``).
    duration: str = "30s"
    #: ``--threshold`` expressions; empty: memsoak's defaults
    #: (``rss.slope<2MiB/min``, ``swap.max<64MiB``).
    thresholds: Sequence[str] = ()
    #: ``--warmup``: ``auto``, a duration or a percentage.
    warmup: str = "auto"
    #: ``--sample-every``: a short test needs many samples.
    sample_every: str = "250ms"
    #: ``--fail-fast``: stop at the first certain breach.
    fail_fast: bool = False
    #: ``--min-growth`` (memsoak's default 1MiB when None).
    min_growth: Optional[str] = None
    #: ``--confidence`` (memsoak's default 0.95 when None).
    confidence: Optional[float] = None

    def args(self) -> List[str]:
        """The settings as ``memsoak watch`` flags."""
        a = ["--duration", self.duration, "--sample-every", self.sample_every]
        a += ["--warmup", self.warmup]
        for t in self.thresholds:
            a += ["--threshold", t]
        if self.fail_fast:
            a.append("--fail-fast")
        if self.min_growth is not None:
            a += ["--min-growth", self.min_growth]
        if self.confidence is not None:
            a += ["--confidence", str(self.confidence)]
        return a


@dataclass
class SoakResult:
    """How a soak ended: memsoak's exit code, the calls made, the run folder
    and its ``report.json`` (None when memsoak wrote none: a usage error)."""

    exit_code: int
    calls: int
    run_dir: Path
    report: Optional[Dict[str, Any]]
    stderr: str = ""
    notes: List[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every threshold held."""
        return self.exit_code == 0

    def summary(self) -> str:
        """memsoak's verdict in one paragraph (see :func:`summarize`)."""
        return summarize(self)


def _write_count(path: Path, n: int) -> None:
    # NOTE: write then rename: memsoak never reads a half-written count.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{n}\n")
    os.replace(tmp, path)


def _reap(proc: "subprocess.Popen[bytes]", timeout: Optional[float]) -> bool:
    """Wait up to ``timeout`` seconds (``None``: for ever) for ``proc`` to
    exit and record its return code; ``False`` if it is still running.

    NOTE: ``os.waitpid`` and not ``Popen.wait``: a KeyboardInterrupt that
    lands inside ``Popen.poll`` can leave Popen's internal wait lock held,
    and every later ``Popen.wait`` without a timeout then blocks for ever
    (pytest hung on Ctrl-C once in CI that way, we believe).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while proc.returncode is None:
        try:
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
        except ChildProcessError:
            # Reaped by Popen already; its return code is recorded there.
            return True
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _signal(proc: "subprocess.Popen[bytes]", sig: int) -> None:
    if proc.returncode is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


def _stop(proc: "subprocess.Popen[bytes]") -> None:
    """Stop memsoak (SIGINT: it writes its report, interrupted) and reap it;
    SIGKILL if it has not exited within :data:`STOP_WAIT_S`."""
    if _reap(proc, 0):
        return
    try:
        _signal(proc, signal.SIGINT)
        if not _reap(proc, STOP_WAIT_S):
            _signal(proc, signal.SIGKILL)
            _reap(proc, None)
    except BaseException:
        # NOTE: a second Ctrl-C while waiting must not leave memsoak behind.
        _signal(proc, signal.SIGKILL)
        _reap(proc, None)
        raise


def _wait_until_sampling(proc: "subprocess.Popen[bytes]", run_dir: Path) -> None:
    """Return once memsoak has taken its first sample (its signal handlers
    are in place by then, and no call goes unobserved), or has exited."""
    samples = run_dir / "samples.csv"
    deadline = time.monotonic() + START_WAIT_S
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if samples.read_bytes().count(b"\n") >= 2:
                return
        except OSError:
            pass
        time.sleep(0.005)


def run_soak(
    fn: Callable[[], Any],
    settings: SoakSettings,
    run_dir: Path,
    memsoak: Path,
) -> SoakResult:
    """Call ``fn`` in a loop while ``memsoak`` watches this process, until
    memsoak's duration ends; returns how memsoak judged it.

    What ``fn`` returns is dropped at once (a leak is what the body keeps).
    An exception from ``fn`` (or a KeyboardInterrupt) stops memsoak, waits
    for it, and propagates unchanged: a body that raises is an error, not a
    leak. ``run_dir`` must not exist yet (memsoak creates it).
    """
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="memsoak-items-") as tmp:
        items = Path(tmp) / "calls"
        errlog = Path(tmp) / "stderr"
        argv = [str(memsoak), "watch", "--pid", str(os.getpid()), "--items-file", str(items)]
        argv += settings.args() + ["--out", str(run_dir), "--quiet"]
        calls = 0
        with open(errlog, "wb") as err:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                # NOTE: its own session: a terminal's Ctrl-C goes to pytest
                # only, which then stops memsoak once (a second SIGINT would
                # make memsoak exit before its report is written).
                start_new_session=True,
            )
            try:
                _wait_until_sampling(proc, run_dir)
                last = 0.0
                running = proc.poll() is None
                while running:
                    fn()
                    calls += 1
                    now = time.monotonic()
                    if now - last >= WRITE_EVERY_S:
                        last = now
                        _write_count(items, calls)
                        running = proc.poll() is None
            finally:
                _stop(proc)
        stderr = errlog.read_text(errors="replace").strip()
    report = None
    report_path = run_dir / "report.json"
    if report_path.is_file():
        report = json.loads(report_path.read_text())
    return SoakResult(
        exit_code=proc.returncode,
        calls=calls,
        run_dir=run_dir,
        report=report,
        stderr=stderr,
        notes=list(report.get("notes", [])) if report else [],
    )


def fmt_bytes(b: float) -> str:
    """Bytes as memsoak writes them (``15.9 MiB``, ``-123 KiB``, ``0.979 MiB``):
    three significant digits, never four (``units::fmt_bytes``)."""
    sign = "-" if b < 0 else ""
    v = abs(b)
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while v >= 999.5 and i + 1 < len(units):
        v /= 1024
        i += 1
    if i == 0 or v >= 99.95:
        digits = 0
    elif v >= 9.995:
        digits = 1
    elif v >= 0.9995:
        digits = 2
    else:
        digits = 3
    return f"{sign}{v:.{digits}f} {units[i]}"


def fmt_p(p: Optional[float]) -> str:
    """A p-value with the figures memsoak's summary gives (its `p=0.012`,
    `p<0.001`, spaced out here): three decimals, and "< 0.001" only below
    what three decimals show (0.0007 reads 0.001 in both); a missing one
    (null or NaN) is "n/a"."""
    if p is None or p != p:
        return "p n/a"
    return "p < 0.001" if p < 0.0005 else f"p = {p:.3f}"


def _metric(report: Dict[str, Any], name: str) -> Optional[Dict[str, Any]]:
    metrics: List[Dict[str, Any]] = report.get("analysis", {}).get("metrics", [])
    return next((m for m in metrics if m.get("metric") == name), None)


def summarize(result: SoakResult) -> str:
    """One paragraph: the verdict, each threshold breached (or all, on a
    pass) with its value, CI and p; the drift of RSS per 1,000 calls with its
    CI; the leak pattern memsoak names; the run folder."""
    r = result.report
    if r is None:
        why = result.stderr.splitlines()[-1] if result.stderr else "no report.json"
        return (
            f"memsoak ended with exit {result.exit_code} before judging the soak: "
            f"{why} (run folder {result.run_dir})"
        )
    a = r.get("analysis", {})
    parts = [f"memsoak {r.get('verdict', '?')} (exit {r.get('exit_code')}):"]
    failed = [t for t in a.get("thresholds", []) if t.get("outcome") == "fail"]
    for t in failed or a.get("thresholds", []):
        parts.append(f"{t['expr']} {t['outcome'].upper()}: {t.get('note', '')}.")
    parts.append(
        f"{result.calls:,} calls in {a.get('duration_s', 0):.1f} s, ended by {r.get('ended_by')}."
    )
    rss = _metric(r, "rss")
    if rss and rss.get("slope_per_1k"):
        s = rss["slope_per_1k"]
        parts.append(
            f"RSS drift per 1,000 calls {fmt_bytes(s['value'])} "
            f"({r.get('confidence', 0.95):.0%} CI {fmt_bytes(s['ci_low'])} to "
            f"{fmt_bytes(s['ci_high'])}), {fmt_p(rss.get('trend_p_value'))}, "
            f"after a {rss.get('warmup_end_s', 0):.1f} s warm-up."
        )
    cls = r.get("classification")
    if cls and cls.get("pattern") not in (None, "none"):
        parts.append(f"Pattern: {cls.get('pattern')}: {cls.get('summary', '')}.")
    for e in r.get("errors", []):
        parts.append(f"Error: {e}.")
    for n in result.notes:
        if "items-file" in n:
            parts.append(f"Note: {n}.")
    parts.append(f"Run folder: {result.run_dir}")
    return " ".join(p.replace("..", ".") for p in parts)
