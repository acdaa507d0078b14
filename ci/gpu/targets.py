#!/usr/bin/env python3
"""VRAM targets for ci/gpu-check.sh: a real leak and a caching-allocator plateau.

    python3 ci/gpu/targets.py leak     [--mib-per-s 4] [--seconds 600]
    python3 ci/gpu/targets.py plateau  [--max-mib 512] [--seconds 600]

leak:    every step keeps a new CUDA tensor in a list (the first article's
         "references kept to every batch's output", on the device): allocated
         and reserved VRAM both grow without bound.
plateau: every step allocates a tensor of a random size up to --max-mib,
         uses it and drops it. PyTorch's caching allocator keeps the freed
         blocks, so reserved VRAM (what NVML and memsoak see) climbs over the
         first sizes and then stays flat while allocated VRAM returns to ~0:
         pattern 8 of shared/PATTERNS.md, not a leak.

Each line on stderr (once a second) reports allocated and reserved MiB as
PyTorch counts them, so the script's output can be set against memsoak's vram.
Exits 2 with one line when torch or a CUDA device is missing.
"""

import argparse
import random
import sys
import time

MIB = 1 << 20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["leak", "plateau"])
    ap.add_argument("--mib-per-s", type=float, default=4.0, help="leak rate")
    ap.add_argument("--max-mib", type=int, default=512, help="largest plateau tensor")
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("targets.py: torch is not installed", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("targets.py: torch sees no CUDA device", file=sys.stderr)
        return 2
    dev = torch.device("cuda:0")
    rng = random.Random(a.seed)
    kept = []
    step_s = 0.05
    start = last_report = time.monotonic()
    while time.monotonic() - start < a.seconds:
        if a.mode == "leak":
            n = int(a.mib_per_s * step_s * MIB / 4)
            kept.append(torch.ones(n, device=dev))
        else:
            n = rng.randint(1, a.max_mib) * MIB // 4
            t = torch.rand(n, device=dev)
            _ = float(t.sum())  # use it, then drop it
            del t
        torch.cuda.synchronize()
        now = time.monotonic()
        if now - last_report >= 1.0:
            last_report = now
            print(
                f"{now - start:6.1f}s allocated {torch.cuda.memory_allocated() / MIB:8.1f} MiB "
                f"reserved {torch.cuda.memory_reserved() / MIB:8.1f} MiB",
                file=sys.stderr,
                flush=True,
            )
        time.sleep(step_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
