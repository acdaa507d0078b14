"""Where the memsoak binary is: ``$MEMSOAK_BIN``, else the ``memsoak``
wheel's (the scripts folder of this Python's environment), else ``memsoak``
on ``PATH``."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import List, Mapping, Optional

#: The environment variable that names a memsoak binary (it wins over the rest).
ENV_VAR = "MEMSOAK_BIN"


class MemsoakNotFound(RuntimeError):
    """No usable memsoak binary: the message says where it was looked for."""


def _wheel_candidates() -> List[Path]:
    """Where ``pip install memsoak`` puts the binary for this interpreter:
    the environment's scripts folder, and the user scheme's."""
    dirs: List[Path] = []
    scripts = sysconfig.get_path("scripts")
    if scripts:
        dirs.append(Path(scripts))
    # NOTE: a venv's interpreter may be a symlink out of the venv; its own
    # bin/ is still where the wheel's scripts go.
    dirs.append(Path(sys.prefix) / "bin")
    try:
        dirs.append(Path(sysconfig.get_path("scripts", f"{os.name}_user")))
    except KeyError:
        pass
    return [d / "memsoak" for d in dirs]


def _usable(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def find_memsoak(env: Optional[Mapping[str, str]] = None, path: Optional[str] = None) -> Path:
    """The memsoak binary to run.

    Order: ``$MEMSOAK_BIN`` (an explicit choice: a dev build, a test), the
    ``memsoak`` wheel installed in this Python's environment, then the first
    ``memsoak`` on ``PATH`` (``path`` overrides ``$PATH``, for tests).
    Raises :class:`MemsoakNotFound` with one line saying what to do.
    """
    if env is None:
        env = os.environ
    named = env.get(ENV_VAR)
    if named:
        p = Path(named)
        if not _usable(p):
            raise MemsoakNotFound(f"${ENV_VAR}={named} is not an executable file")
        return p
    for p in _wheel_candidates():
        if _usable(p):
            return p
    found = shutil.which("memsoak", path=path if path is not None else env.get("PATH"))
    if found:
        return Path(found)
    raise MemsoakNotFound(
        "memsoak not found: `pip install memsoak`, put memsoak on PATH, "
        f"or set ${ENV_VAR} to the binary"
    )
