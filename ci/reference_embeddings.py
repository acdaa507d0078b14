#!/usr/bin/env python3
"""Write the sentence-transformers reference vectors the candle backend is tested against.

tests/candle.rs embeds the same texts with memsoak's candle backend and requires
cosine >= 0.999 with these vectors for every text, so this script defines what
"correct" means. It loads the model from a local directory only (no hub access):
the same directory ci/fetch-model.sh fills.

Usage:
    pip install sentence-transformers   # torch from PyPI; CPU is enough
    python ci/reference_embeddings.py [--model DIR] [--texts JSON] [--out JSON]

Defaults: models/all-MiniLM-L6-v2, tests/fixtures/reference_texts.json and
tests/fixtures/reference_embeddings.json, relative to the repository root.
Vectors are rounded to 6 decimals, which keeps the fixture small and changes
cosines by far less than the 0.001 the test allows.
"""

import argparse
import hashlib
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "all-MiniLM-L6-v2"),
                    help="sentence-transformers model directory")
    ap.add_argument("--texts", default=str(ROOT / "tests" / "fixtures" / "reference_texts.json"),
                    help='JSON file {"texts": [...]}')
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "reference_embeddings.json"),
                    help="output JSON file")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    # Never reach for the hub: the reference must come from the very files the
    # Rust test loads.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    model_dir = pathlib.Path(args.model)
    if not (model_dir / "model.safetensors").is_file():
        print(f"error: no model.safetensors in {model_dir}: run ci/fetch-model.sh", file=sys.stderr)
        return 2
    texts = json.loads(pathlib.Path(args.texts).read_text(encoding="utf-8"))["texts"]

    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    with torch.inference_mode():
        vecs = model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True,
                            normalize_embeddings=False, show_progress_bar=False)

    # Untruncated token counts (special tokens included) let the test check
    # that the set really exercises truncation.
    tok = model.tokenizer
    tokens = [len(tok(t.strip(), truncation=False)["input_ids"]) for t in texts]

    out = {
        "model": model_dir.name,
        "model_sha256": sha256(model_dir / "model.safetensors"),
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "max_seq_length": model.max_seq_length,
        "dim": int(vecs.shape[1]),
        "texts": texts,
        "tokens": tokens,
        "embeddings": [[round(float(x), 6) for x in v] for v in vecs],
    }
    pathlib.Path(args.out).write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n",
                                      encoding="utf-8")
    print(f"wrote {len(texts)} vectors of dim {out['dim']} to {args.out} "
          f"(max_seq_length {out['max_seq_length']}, longest text {max(tokens)} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
