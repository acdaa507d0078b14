#!/usr/bin/env python3
"""Time sentence-transformers on the texts of memsoak's candle bench, for comparison.

`cargo bench --features candle --bench embed` writes the texts it embedded to
target/embed-bench-texts.json; this script embeds exactly the same batches
(32 texts each, in the same order, one encode() call per batch as memsoak's
pipeline would) with sentence-transformers on the CPU and prints sentences/s
in the same format, plus the ratio to candle when given its figures.

Usage:
    cargo bench --features candle --bench embed        # writes the texts
    python ci/bench_sentence_transformers.py [--texts JSON] [--model DIR] [--threads N]
"""

import argparse
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", default=str(ROOT / "target" / "embed-bench-texts.json"))
    ap.add_argument("--model", default=None, help="model dir (default: the one the bench used)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--repeat", type=int, default=1, help="time each workload this many times, report the best")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    texts_path = pathlib.Path(args.texts)
    if not texts_path.is_file():
        print(f"error: {texts_path} not found: run `cargo bench --features candle --bench embed` first",
              file=sys.stderr)
        return 2
    doc = json.loads(texts_path.read_text(encoding="utf-8"))
    model_dir = args.model or doc["model_dir"]
    batch = int(doc["batch_size"])

    import torch
    from sentence_transformers import SentenceTransformer

    if args.threads:
        torch.set_num_threads(args.threads)
    model = SentenceTransformer(model_dir, device="cpu")
    model.eval()
    tok = model.tokenizer
    print(f"sentence-transformers bench: model {pathlib.Path(model_dir).name} | torch {torch.__version__} "
          f"| threads {torch.get_num_threads()}")

    for name in ("fixed", "variable"):
        texts = doc[name]
        batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]
        with torch.inference_mode():
            model.encode(batches[0], batch_size=batch, show_progress_bar=False)  # warm-up
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                for b in batches:
                    model.encode(b, batch_size=batch, show_progress_bar=False)
                best = min(best, time.perf_counter() - start)
        used = sum(min(len(tok(t)["input_ids"]), model.max_seq_length) for t in texts)
        print(f"{name:>8}: {len(texts) / best:7.1f} sentences/s  (batch {batch}, {len(texts)} texts, "
              f"mean {used / len(texts):.1f} tokens/text after truncation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
