"""pytest-memsoak: soak tests in pytest.

``@pytest.mark.soak(duration="30s", thresholds=["rss.slope_per_1k<64KiB"])``
runs a test body in a loop for the duration while ``memsoak watch --pid``
samples the test process and counts the calls as items; the test fails with
memsoak's verdict when a threshold is breached. See :mod:`pytest_memsoak.plugin`.
"""

from pytest_memsoak.binary import MemsoakNotFound, find_memsoak
from pytest_memsoak.soak import SoakResult, SoakSettings, run_soak

__all__ = ["MemsoakNotFound", "SoakResult", "SoakSettings", "find_memsoak", "run_soak"]
