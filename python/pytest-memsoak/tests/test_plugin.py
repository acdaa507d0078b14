"""The plugin's own tests: real pytest sessions (subprocesses) soaked by a
real memsoak. Which memsoak: ``$MEMSOAK_BIN``, else the wheel's, else PATH
(``ci/python-tests.sh`` runs this file against a dev build and again in a
venv holding the wheel). Without a memsoak the tests fail under ``CI=true``
and are skipped elsewhere, saying why.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from pytest_memsoak import binary
from pytest_memsoak.binary import MemsoakNotFound, find_memsoak
from pytest_memsoak.soak import SoakResult, fmt_bytes, fmt_p, summarize

pytest_plugins = ["pytester"]

#: Every soak here samples at 10 Hz: 80 samples in 8 s.
SOAK = 'duration="8s", sample_every="100ms", thresholds=["rss.slope_per_1k<64KiB"]'


@pytest.fixture(scope="session")
def memsoak_bin() -> Path:
    """The memsoak the plugin will find; fails under CI=true when there is none."""
    try:
        return find_memsoak()
    except MemsoakNotFound as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {e}")
        pytest.skip(str(e))


def _inner(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    """Run ``body`` as a test file in a fresh pytest process (the plugin comes
    from its entry point, as for a user), run folders under ./soak-out."""
    pytester.makepyfile(test_inner=textwrap.dedent(body))
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--soak-out", str(pytester.path / "soak-out"), *args
    )


def _reports(pytester: pytest.Pytester) -> List[Dict]:
    return [json.loads(p.read_text()) for p in sorted((pytester.path / "soak-out").glob("*/report.json"))]


def _procs_mentioning(text: str) -> List[int]:
    """Live (not zombie) processes whose command line contains ``text``."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmd and state not in ("Z", "X") and int(d.name) != os.getpid():
            found.append(int(d.name))
    return found


def test_a_function_that_keeps_what_it_returns_fails_with_the_drift_per_1000_calls(
    pytester: pytest.Pytester, memsoak_bin: Path
) -> None:
    r = _inner(
        pytester,
        f"""
        import time, pytest
        kept = []

        def embed(text):
            out = text.encode() * 4096      # 16 KiB, every page touched
            kept.append(out)                # the leak: the output is kept
            return out

        @pytest.mark.soak({SOAK})
        def test_embed():
            embed("abcd")
            time.sleep(0.002)
        """,
    )
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "rss.slope_per_1k<64KiB FAIL" in out, out
    assert "RSS drift per 1,000 calls" in out and "CI" in out and "p " in out, out
    assert "Run folder:" in out, out
    (rep,) = _reports(pytester)
    assert rep["verdict"] == "fail" and rep["exit_code"] == 1
    (th,) = rep["analysis"]["thresholds"]
    # 16 KiB a call: about 16 MiB per 1,000 calls, whatever the box's speed.
    assert 8 * 2**20 < th["measured"] < 32 * 2**20, th
    assert rep["analysis"]["items"] > 200


def test_a_pure_function_passes(pytester: pytest.Pytester, memsoak_bin: Path) -> None:
    r = _inner(
        pytester,
        f"""
        import time, pytest

        def embed(text):
            return text.encode() * 4096

        @pytest.mark.soak({SOAK})
        def test_embed():
            embed("abcd")
            time.sleep(0.002)
        """,
        "-rA",
    )
    r.assert_outcomes(passed=1)
    (rep,) = _reports(pytester)
    assert rep["verdict"] == "pass", rep
    assert rep["analysis"]["items"] > 200
    assert "memsoak pass (exit 0): rss.slope_per_1k<64KiB PASS" in r.stdout.str()


def test_a_cache_that_fills_to_a_bound_passes(pytester: pytest.Pytester, memsoak_bin: Path) -> None:
    r = _inner(
        pytester,
        f"""
        import functools, itertools, time, pytest
        calls = itertools.count()

        @functools.lru_cache(maxsize=256)   # 256 x 16 KiB = 4 MiB, then flat
        def embed(i):
            return b"abcd" * 4096

        @pytest.mark.soak({SOAK})
        def test_embed():
            embed(next(calls))
            time.sleep(0.002)
        """,
    )
    r.assert_outcomes(passed=1)
    (rep,) = _reports(pytester)
    rss = next(m for m in rep["analysis"]["metrics"] if m["metric"] == "rss")
    # The fill is real (the cache grew RSS by megabytes), and was judged warm-up.
    assert rss["max"] - rss["first"] > 3 * 2**20, rss
    assert rep["verdict"] == "pass", rep


def test_a_function_that_raises_fails_as_an_error_not_a_leak(
    pytester: pytest.Pytester, memsoak_bin: Path
) -> None:
    r = _inner(
        pytester,
        f"""
        import itertools, pytest
        calls = itertools.count(1)

        @pytest.mark.soak({SOAK.replace('8s', '60s')})
        def test_embed():
            if next(calls) == 300:
                raise ValueError("bad batch at call 300")
        """,
    )
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "ValueError: bad batch at call 300" in out, out
    assert "rss.slope_per_1k<64KiB FAIL" not in out and "memsoak fail" not in out, out
    # memsoak was stopped at once (not after its 60 s), with its report.
    assert r.duration < 30, r.duration
    (rep,) = _reports(pytester)
    assert rep["interrupted"] is True
    assert _procs_mentioning(str(pytester.path / "soak-out")) == []


def test_tests_without_the_marker_are_untouched(pytester: pytest.Pytester, memsoak_bin: Path) -> None:
    r = _inner(
        pytester,
        """
        calls = []

        def test_plain():
            calls.append(1)

        def test_ran_once():
            assert calls == [1]
        """,
    )
    r.assert_outcomes(passed=2)
    assert not (pytester.path / "soak-out").exists()


def test_soak_duration_and_out_on_the_command_line_override_the_marker(
    pytester: pytest.Pytester, memsoak_bin: Path
) -> None:
    r = _inner(
        pytester,
        """
        import pytest

        @pytest.mark.soak(duration="10m", sample_every="100ms")
        def test_quick():
            pass
        """,
        "--soak-duration",
        "3s",
    )
    r.assert_outcomes(passed=1)
    (run,) = (pytester.path / "soak-out").glob("*/run.json")
    assert run.parent.name.startswith("test_inner.py_test_quick-")
    meta = json.loads(run.read_text())
    assert meta["config"]["duration"] == "3s", meta["config"]
    assert r.duration < 60


def test_a_bad_threshold_is_a_usage_failure_with_memsoaks_line(
    pytester: pytest.Pytester, memsoak_bin: Path
) -> None:
    r = _inner(
        pytester,
        """
        import pytest

        @pytest.mark.soak(duration="5s", thresholds=["rss.slope<<1MiB"])
        def test_bad():
            pass
        """,
    )
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "memsoak ended with exit 2 before judging the soak" in out, out
    assert "rss.slope<<1MiB" in out, out


def test_a_heap_threshold_is_refused_not_passed_on_a_leak(
    pytester: pytest.Pytester, memsoak_bin: Path
) -> None:
    # Regression: thresholds=["heap.slope<1MiB/min"] on a body keeping 200 KiB
    # a call PASSED after ~4 GiB had leaked: memsoak watches this process as
    # a black box, whose heap it never reads, and skipped the only limit.
    r = _inner(
        pytester,
        """
        import pytest
        KEPT = []

        @pytest.mark.soak(duration="5s", thresholds=["heap.slope<1MiB/min"])
        def test_heap_only():
            KEPT.append(bytearray(200 * 1024))
        """,
    )
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "memsoak ended with exit 2 before judging the soak" in out, out
    assert "heap.slope<1MiB/min: `heap` is never sampled by watch" in out, out
    assert r.duration < 5, "refused before the soak, not after it"


def _soak_in_background(tmp: Path, duration: str) -> "Tuple[subprocess.Popen[bytes], Path, int]":
    """A real pytest process soaking a test for ``duration``; returns it, its
    soak-out folder and memsoak's pid once memsoak is sampling it."""
    (tmp / "test_long.py").write_text(
        textwrap.dedent(
            f"""
            import time, pytest

            @pytest.mark.soak(duration="{duration}", sample_every="100ms")
            def test_long():
                time.sleep(0.005)
            """
        )
    )
    out = tmp / "soak-out"
    p = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--soak-out", str(out), "test_long.py"],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # NOTE: SIGINT back to its default in the child: a shell that runs
        # the suite in the background (`.ci/run &`) ignores SIGINT for what
        # it starts, Python then installs no KeyboardInterrupt handler, and
        # the interrupted pytest never stopped (both CI runs of a session).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = _procs_mentioning(f"--out {out}")
        samples = list(out.glob("*/samples.csv"))
        if pids and samples and samples[0].read_text().count("\n") >= 3:
            return p, out, pids[0]
        assert p.poll() is None, p.communicate()[0].decode()
        time.sleep(0.1)
    p.kill()
    raise AssertionError("memsoak never started sampling the pytest process")


def test_interrupting_pytest_leaves_no_memsoak_process(tmp_path: Path, memsoak_bin: Path) -> None:
    p, out, ms = _soak_in_background(tmp_path, "5m")
    p.send_signal(signal.SIGINT)
    try:
        text = p.communicate(timeout=30)[0].decode()
    except subprocess.TimeoutExpired:
        p.kill()
        raise
    assert p.returncode == 2, text  # pytest: interrupted
    assert "KeyboardInterrupt" in text, text
    assert _procs_mentioning(str(out)) == [], f"memsoak {ms} survived"
    (rep,) = [json.loads(r.read_text()) for r in out.glob("*/report.json")]
    assert rep["interrupted"] is True and rep["exit_code"] == 130, rep


def test_a_killed_pytest_leaves_no_memsoak_process(tmp_path: Path, memsoak_bin: Path) -> None:
    # SIGKILL gives the plugin no chance: memsoak sees its target gone.
    p, out, ms = _soak_in_background(tmp_path, "5m")
    p.kill()
    p.wait()
    deadline = time.monotonic() + 15
    while _procs_mentioning(str(out)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _procs_mentioning(str(out)) == [], f"memsoak {ms} survived"
    (rep,) = [json.loads(r.read_text()) for r in out.glob("*/report.json")]
    assert rep["ended_by"] == "target_exit", rep


def test_the_soak_runs_the_memsoak_it_finds(
    pytester: pytest.Pytester, memsoak_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without $MEMSOAK_BIN the plugin finds the wheel's memsoak, else the
    one on PATH; ``$MEMSOAK_EXPECT_BIN`` (set by ci/python-tests.sh) names
    which this environment must use."""
    pytester.makepyfile(
        test_found="""
        import time, pytest

        @pytest.mark.soak(duration="2s", sample_every="100ms")
        def test_quick():
            time.sleep(0.001)
        """
    )
    env_bin = os.environ.get("MEMSOAK_BIN")
    if env_bin:
        # The binary named by $MEMSOAK_BIN is still found: on PATH.
        path = f"{Path(env_bin).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        monkeypatch.setenv("PATH", path)
    monkeypatch.delenv("MEMSOAK_BIN", raising=False)
    found = find_memsoak()
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--soak-out", str(pytester.path / "o"))
    r.assert_outcomes(passed=1)
    (run,) = (pytester.path / "o").glob("*/run.json")
    used = Path(json.loads(run.read_text())["command_line"][0])
    assert used == found, (used, found)
    expect = os.environ.get("MEMSOAK_EXPECT_BIN")
    if os.environ.get("CI") == "true":
        assert expect, "CI=true: ci/python-tests.sh sets MEMSOAK_EXPECT_BIN"
    if expect:
        assert used.resolve() == Path(expect).resolve(), (used, expect)


# ---- unit tests of the pieces ------------------------------------------------


def _fake_memsoak(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / "memsoak"
    p.write_text("#!/bin/sh\nexit 0\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return p


def test_memsoak_is_looked_for_in_env_then_wheel_then_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_bin = _fake_memsoak(tmp_path / "env")
    wheel_bin = _fake_memsoak(tmp_path / "venv-bin")
    path_bin = _fake_memsoak(tmp_path / "on-path")
    monkeypatch.setattr(binary, "_wheel_candidates", lambda: [wheel_bin])
    assert find_memsoak({"MEMSOAK_BIN": str(env_bin)}, path=str(path_bin.parent)) == env_bin
    assert find_memsoak({}, path=str(path_bin.parent)) == wheel_bin
    monkeypatch.setattr(binary, "_wheel_candidates", lambda: [tmp_path / "nowhere" / "memsoak"])
    assert find_memsoak({}, path=str(path_bin.parent)) == path_bin
    with pytest.raises(MemsoakNotFound, match="pip install memsoak"):
        find_memsoak({}, path=str(tmp_path / "empty"))
    with pytest.raises(MemsoakNotFound, match="not an executable"):
        find_memsoak({"MEMSOAK_BIN": str(tmp_path / "missing")})


def test_bytes_are_written_as_memsoak_writes_them() -> None:
    assert fmt_bytes(512) == "512 B"
    assert fmt_bytes(16.5 * 2**20) == "16.5 MiB"
    assert fmt_bytes(-123 * 1024) == "-123 KiB"
    assert fmt_bytes(1.5 * 1024) == "1.50 KiB"
    # The same cases as units.rs's `formatting`.
    assert fmt_bytes(-1002 * 1024) == "-0.979 MiB"
    assert fmt_bytes(1023) == "0.999 KiB"
    assert fmt_bytes(1023.9) == "1.00 KiB"
    assert fmt_bytes(99.97 * 1024) == "100 KiB"
    assert fmt_bytes(9.997 * 1024) == "10.0 KiB"
    assert fmt_bytes(2000 * 1024**4) == "1.95 PiB"


def test_p_values_are_written_as_memsoak_writes_them() -> None:
    # The plugin wrote "p < 0.001" for 0.0007, where the summary says 0.001.
    assert fmt_p(0.0004) == "p < 0.001"
    assert fmt_p(0.0005) == "p = 0.001"
    assert fmt_p(0.0007) == "p = 0.001"
    assert fmt_p(0.0123) == "p = 0.012"
    assert fmt_p(None) == "p n/a"
    assert fmt_p(float("nan")) == "p n/a"


def test_a_run_without_a_report_is_summarized_by_memsoaks_last_line(tmp_path: Path) -> None:
    r = SoakResult(exit_code=2, calls=3, run_dir=tmp_path, report=None, stderr="memsoak: error: bad\n")
    s = summarize(r)
    assert s.startswith("memsoak ended with exit 2 before judging the soak: memsoak: error: bad")
    assert str(tmp_path) in s


def test_marker_arguments_are_checked(pytester: pytest.Pytester, memsoak_bin: Path) -> None:
    r = _inner(
        pytester,
        """
        import pytest

        @pytest.mark.soak(duration="5s", treshold="rss.max<1GiB")
        def test_typo():
            pass
        """,
    )
    r.assert_outcomes(failed=1)
    assert "unknown argument(s) ['treshold']" in r.stdout.str()
    assert not (pytester.path / "soak-out").exists()
