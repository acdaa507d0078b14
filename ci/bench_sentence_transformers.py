#!/usr/bin/env python3
"""Time sentence-transformers on the texts of memsoak's candle bench, for comparison.

`cargo bench --profile dev --bench embed` writes the texts it embedded to
target/embed-bench-texts.json and its figures to target/embed-bench-figures.json;
this script embeds exactly the same batches (32 texts each, in the same order,
one encode() call per batch as memsoak's pipeline would) with
sentence-transformers on the CPU, prints sentences/s in the same format, and,
when the candle figures are there (or given with --candle), the ratio
candle / sentence-transformers for each workload.

Usage:
    cargo bench --profile dev --bench embed        # writes texts and figures
    python3 ci/bench_sentence_transformers.py [--texts JSON] [--candle JSON]
                                              [--model DIR] [--threads N] [--repeat R]
"""

import argparse
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def ratio_lines(st, candle_doc):
    """Lines comparing the two; `st` maps workload -> figures like the bench's."""
    figs = candle_doc.get("figures", {})
    out = [f"candle ({candle_doc.get('threads', '?')} threads, jemalloc decay "
           f"{candle_doc.get('decay', '?')}) / sentence-transformers:"]
    for name, s in st.items():
        c = figs.get(name)
        if not c:
            continue
        out.append(f"{name:>8}: {c['best'] / s['best']:5.2f}x sentences/s "
                   f"({c['best']:.1f} vs {s['best']:.1f}), "
                   f"{c['per_cpu_sec'] / s['per_cpu_sec']:5.2f}x per CPU-second "
                   f"({c['per_cpu_sec']:.1f} vs {s['per_cpu_sec']:.1f})")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", default=str(ROOT / "target" / "embed-bench-texts.json"))
    ap.add_argument("--candle", default=str(ROOT / "target" / "embed-bench-figures.json"),
                    help="the candle bench's figures (skipped when the file is missing)")
    ap.add_argument("--model", default=None, help="model dir (default: the one the bench used)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--repeat", type=int, default=3, help="time each workload this many times, report the best")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    texts_path = pathlib.Path(args.texts)
    if not texts_path.is_file():
        print(f"error: {texts_path} not found: run `cargo bench --profile dev --bench embed` first",
              file=sys.stderr)
        return 2
    doc = json.loads(texts_path.read_text(encoding="utf-8"))
    model_dir = args.model or doc["model_dir"]
    batch = int(doc["batch_size"])
    candle_path = pathlib.Path(args.candle)
    candle_doc = json.loads(candle_path.read_text(encoding="utf-8")) if candle_path.is_file() else None

    import torch
    from sentence_transformers import SentenceTransformer

    if args.threads:
        torch.set_num_threads(args.threads)
    model = SentenceTransformer(model_dir, device="cpu")
    model.eval()
    tok = model.tokenizer
    load = " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3]) \
        if pathlib.Path("/proc/loadavg").is_file() else "?"
    print(f"sentence-transformers bench: model {pathlib.Path(model_dir).name} | torch {torch.__version__} "
          f"| threads {torch.get_num_threads()} | load average {load}")

    figures = {}
    for name in ("fixed", "variable"):
        texts = doc[name]
        batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]
        walls, cpus = [], []
        with torch.inference_mode():
            model.encode(batches[0], batch_size=batch, show_progress_bar=False)  # warm-up
            for _ in range(max(1, args.repeat)):
                start, cpu = time.perf_counter(), time.process_time()
                for b in batches:
                    model.encode(b, batch_size=batch, show_progress_bar=False)
                walls.append(time.perf_counter() - start)
                cpus.append(time.process_time() - cpu)
        walls.sort()
        used = sum(min(len(tok(t)["input_ids"]), model.max_seq_length) for t in texts)
        f = {
            "best": len(texts) / walls[0],
            "median": len(texts) / walls[len(walls) // 2],
            "per_cpu_sec": len(texts) / max(min(cpus), 1e-9),
        }
        figures[name] = f
        print(f"{name:>8}: {f['best']:7.1f} sentences/s best, {f['median']:7.1f} median of {len(walls)}, "
              f"{f['per_cpu_sec']:7.1f} per CPU-second  (batch {batch}, {len(texts)} texts, "
              f"mean {used / len(texts):.1f} tokens/text after truncation)")
    if candle_doc is not None:
        for line in ratio_lines(figures, candle_doc):
            print(line)
    else:
        print(f"(no candle figures at {candle_path}: run the candle bench for the ratio)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
