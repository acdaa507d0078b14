"""memsoak's allocation-site snapshots for Python targets (`--attribute`).

memsoak writes this file into the run folder and puts that folder first on
the target's PYTHONPATH, so every Python process of the target imports it at
start-up. Without memsoak's environment variables it does nothing at all.

With them, a daemon thread polls memsoak's request file every 0.1 s. The
first request a process sees starts tracemalloc (memsoak sends it at the end
of warm-up, so loading a model is not charged); every later request writes a
snapshot, `snap-NNNN-pPID.json` in the attribution folder, written to a
temporary name and renamed, so memsoak never reads half a file. Each snapshot
holds the live bytes and block counts per allocation site: a traceback folded
to its most recent frames in the target's own code (not the standard library
or site-packages) where there is one.

Whatever goes wrong here stays here: the thread swallows its errors (after
writing one line to stderr), never touches the target's own threads, and
then chains to the sitecustomize this one shadows, if any.
"""

import os
import sys

_DIR_VAR = "MEMSOAK_ATTRIBUTE_DIR"
_DEPTH_VAR = "MEMSOAK_ATTRIBUTE_DEPTH"
# NOTE: sites below 1 KiB are summed into `other_bytes`: a site missing from
# a snapshot had less than this, which is far below any materiality floor.
_MIN_SITE_BYTES = 1024
# NOTE: a site is its three most recent frames: the line that allocates and
# two callers, enough to tell `cache.put` from `outputs.append` without
# splitting one leak into a site per call path.
_SITE_FRAMES = 3


def _library_roots():
    import sysconfig

    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            p = sysconfig.get_paths().get(key)
        except Exception:
            p = None
        if p:
            roots.add(os.path.realpath(p))
    return tuple(sorted(roots))


def _is_library(filename, roots, cache):
    hit = cache.get(filename)
    if hit is not None:
        return hit
    if filename.startswith("<") or "site-packages" in filename or "dist-packages" in filename:
        lib = True
    else:
        real = os.path.realpath(filename)
        lib = any(real.startswith(r + os.sep) for r in roots)
    cache[filename] = lib
    return lib


def _fold(traceback, roots, cache):
    """The site of one traceback (frames most recent first): from the most
    recent frame in the target's own code, else from the most recent one."""
    frames = list(reversed(traceback))  # tracemalloc lists oldest first
    start = 0
    for i, f in enumerate(frames):
        if not _is_library(f.filename, roots, cache):
            start = i
            break
    return tuple((f.filename, f.lineno) for f in frames[start : start + _SITE_FRAMES])


def _snapshot(seq, out_dir, roots, started_at):
    import json
    import linecache
    import time
    import tracemalloc

    # NOTE: the heap's time is when the snapshot starts: its traces are
    # copied in one C call that holds the GIL, right after this; folding
    # them below takes seconds on a big heap and is not the target's time.
    taken = time.time()
    snap = tracemalloc.take_snapshot()
    snap = snap.filter_traces(
        (
            # NOTE: anywhere in the stack: this thread's own allocations
            # (the snapshot being folded) are not the target's.
            tracemalloc.Filter(False, __file__, all_frames=True),
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, linecache.__file__),
        )
    )
    sites, cache = {}, {}
    for stat in snap.statistics("traceback"):
        key = _fold(stat.traceback, roots, cache)
        acc = sites.setdefault(key, [0, 0])
        acc[0] += stat.size
        acc[1] += stat.count
    listed, other_bytes, other_count = [], 0, 0
    total = 0
    for key, (size, count) in sites.items():
        total += size
        if size < _MIN_SITE_BYTES:
            other_bytes += size
            other_count += count
            continue
        code = linecache.getline(key[0][0], key[0][1]).strip() if key else ""
        listed.append(
            {
                "frames": ["%s:%d" % f for f in key],
                "code": code,
                "bytes": size,
                "count": count,
            }
        )
    listed.sort(key=lambda s: -s["bytes"])
    pid = os.getpid()
    doc = {
        "format": "memsoak-attribution",
        "version": 1,
        "seq": seq,
        "pid": pid,
        "t_unix": taken,
        "tracing_since_unix": started_at,
        "traced_bytes": total,
        "min_site_bytes": _MIN_SITE_BYTES,
        "other_bytes": other_bytes,
        "other_count": other_count,
        "sites": listed,
    }
    name = "snap-%04d-p%d.json" % (seq, pid)
    tmp = os.path.join(out_dir, ".%s.tmp" % name)
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, os.path.join(out_dir, name))


def _read_request(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _poll(out_dir, depth):
    import time
    import tracemalloc

    request = os.path.join(out_dir, "request")
    roots = _library_roots()
    seen = 0
    started_at = None
    while True:
        time.sleep(0.1)
        n = _read_request(request)
        if n <= seen:
            continue
        seen = n
        try:
            if started_at is None:
                # NOTE: the first request only starts tracing: memory
                # allocated before it is invisible, so a snapshot now would
                # charge every later allocation as growth from zero.
                if not tracemalloc.is_tracing():
                    tracemalloc.start(depth)
                started_at = time.time()
                continue
            _snapshot(n, out_dir, roots, started_at)
        except Exception as e:  # never let attribution hurt the target
            try:
                sys.stderr.write("memsoak attribution: snapshot %d failed: %r\n" % (n, e))
            except Exception:
                pass


def _start():
    out_dir = os.environ.get(_DIR_VAR)
    if not out_dir or not os.path.isdir(out_dir):
        return
    try:
        depth = max(1, min(64, int(os.environ.get(_DEPTH_VAR, "8"))))
    except ValueError:
        depth = 8
    import threading

    t = threading.Thread(
        target=_poll, args=(out_dir, depth), name="memsoak-attribution", daemon=True
    )
    t.start()


def _chain():
    """Run the sitecustomize this one shadows (a venv's, the distribution's),
    as Python would have without memsoak."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None or spec.origin == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


try:
    _start()
except Exception:
    pass
try:
    _chain()
except Exception as e:
    try:
        sys.stderr.write("memsoak attribution: the shadowed sitecustomize failed: %r\n" % (e,))
    except Exception:
        pass
