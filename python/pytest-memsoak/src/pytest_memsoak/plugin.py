"""The pytest plugin: the ``soak`` marker.

``@pytest.mark.soak(duration="30s", thresholds=["rss.slope_per_1k<64KiB"], warmup="auto")``
runs the test body in a loop for the duration while memsoak watches the test
process (see :func:`pytest_memsoak.soak.run_soak`). The test fails with
memsoak's verdict in one paragraph (the drift per 1,000 calls with its CI,
p, the leak pattern, the run folder) when a threshold is breached; a body
that raises fails with its own exception; tests without the marker are
untouched. Function-scoped fixtures are set up once and shared by every call.

Command line: ``--soak-duration`` overrides every marker's duration,
``--soak-out DIR`` is where run folders go (default ``reports/soak`` under
the rootdir), one per test: ``<test id>-<UTC time>``.
"""

from __future__ import annotations

import inspect
import re
import time
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from pytest_memsoak.binary import MemsoakNotFound, find_memsoak
from pytest_memsoak.soak import SoakSettings, run_soak

#: Keyword arguments the marker takes, mapped to :class:`SoakSettings` fields.
MARKER_ARGS = ("duration", "thresholds", "warmup", "sample_every", "fail_fast", "min_growth", "confidence")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--soak-duration`` and ``--soak-out``."""
    group = parser.getgroup("memsoak", "soak tests under memsoak")
    group.addoption(
        "--soak-duration",
        metavar="DURATION",
        help="run every @pytest.mark.soak test this long (30s, 2m), whatever its marker says",
    )
    group.addoption(
        "--soak-out",
        metavar="DIR",
        help="folder for the soak tests' run folders (default: reports/soak under the rootdir)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker."""
    config.addinivalue_line(
        "markers",
        "soak(duration='30s', thresholds=[...], warmup='auto', sample_every='250ms', "
        "fail_fast=False, min_growth=None, confidence=None): run the test body in a loop "
        "under memsoak and fail it when memory drift breaches a threshold",
    )


def settings_from_marker(marker: pytest.Mark, config: pytest.Config) -> SoakSettings:
    """The marker's keyword arguments (and ``--soak-duration``) as settings.
    Raises ValueError on an unknown keyword or a positional argument."""
    if marker.args:
        raise ValueError("@pytest.mark.soak takes keyword arguments only")
    unknown = set(marker.kwargs) - set(MARKER_ARGS)
    if unknown:
        raise ValueError(
            f"@pytest.mark.soak: unknown argument(s) {sorted(unknown)}; known: {list(MARKER_ARGS)}"
        )
    kw: Dict[str, Any] = dict(marker.kwargs)
    if isinstance(kw.get("thresholds"), str):
        kw["thresholds"] = [kw["thresholds"]]
    if "thresholds" in kw:
        kw["thresholds"] = tuple(kw["thresholds"])
    override: Optional[str] = config.getoption("soak_duration")
    if override:
        kw["duration"] = override
    return SoakSettings(**kw)


def run_dir_for(item: pytest.Item) -> Path:
    """A new run folder for this test: ``<soak-out>/<test id>-<UTC time>``."""
    out = item.config.getoption("soak_out")
    base = Path(out) if out else Path(item.config.rootpath) / "reports" / "soak"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", item.nodeid).strip("_")[:120]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    d = base / f"{name}-{stamp}"
    n = 1
    while d.exists():
        n += 1
        d = base / f"{name}-{stamp}-{n}"
    return d.resolve()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Optional[bool]:
    """Run a ``soak``-marked test body under memsoak; leave others alone."""
    marker = pyfuncitem.get_closest_marker("soak")
    if marker is None:
        return None
    fn = pyfuncitem.obj
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        pytest.fail("@pytest.mark.soak: async test bodies are not supported", pytrace=False)
    try:
        settings = settings_from_marker(marker, pyfuncitem.config)
        memsoak = find_memsoak()
    except (ValueError, MemsoakNotFound) as e:
        pytest.fail(str(e), pytrace=False)
    args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}
    result = run_soak(lambda: fn(**args), settings, run_dir_for(pyfuncitem), memsoak)
    summary = result.summary()
    if not result.passed:
        pytest.fail(summary, pytrace=False)
    # NOTE: a pass's verdict is shown with -rP / -rA.
    pyfuncitem.add_report_section("call", "memsoak", summary)
    return True
