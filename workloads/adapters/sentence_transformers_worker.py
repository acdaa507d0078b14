#!/usr/bin/env python3
"""A real sentence-transformers worker speaking memsoak's JSON Lines protocol.

This is the pipeline of the first seed article: read a batch of texts,
`model.encode` it, write the vectors. Modes:

  (default)   append each batch's vectors to --out as raw little-endian
              float32, row-major, no header (read it back with
              numpy.fromfile(path, "<f4").reshape(-1, dim)), flushed per
              batch, and keep nothing; replies {"id", "count", "dim"}.
              Without --out the file is a temporary one, removed at exit.
  --retain    also keep a reference to every batch's whole output, as the
              article's leaking loop did: the per-token float arrays behind
              each vector (encode with output_value=None), tokens x dim x 4
              bytes per text (about 18 KiB for 12 tokens with
              all-MiniLM-L6-v2), never freed. (Keeping only the final
              vectors, 1.5 KiB a text, was lost in the allocator's slack for
              the first minutes: RSS can stay flat while that much grows.)
  --reply-embeddings   send the vectors back instead of writing them.

A failed encode() is answered with {"id", "error"}: memsoak counts it against
--max-errors instead of ending the run.

usage:
  memsoak run --backend command --duration 10m -- \
      python3 workloads/adapters/sentence_transformers_worker.py \
      --model models/all-MiniLM-L6-v2 [--retain] [--device cpu|cuda]
"""
import argparse, json, os, struct, sys, tempfile

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=os.environ.get("MEMSOAK_MODEL_DIR", "models/all-MiniLM-L6-v2"))
    p.add_argument("--device", default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--retain", action="store_true")
    p.add_argument("--reply-embeddings", action="store_true")
    p.add_argument("--out", default=None, help="raw float32 output (default: a temp file)")
    a = p.parse_args()

    import numpy as np
    from sentence_transformers import SentenceTransformer  # heavy: after arg parsing
    model = SentenceTransformer(a.model, device=a.device)
    dim = model.get_sentence_embedding_dimension()
    out_path = a.out or os.path.join(tempfile.gettempdir(), f"st-worker-{os.getpid()}.f32")
    out = None if a.reply_embeddings else open(out_path, "wb")
    kept = []  # --retain: the leak of the article
    print(f"st-worker: model {a.model} dim {dim} device {model.device} retain={a.retain}",
          file=sys.stderr, flush=True)
    for line in sys.stdin:
        rid = None
        try:
            req = json.loads(line)
            rid, texts = req["id"], req["texts"]
            if a.retain:
                # NOTE: the same forward pass; every output kept, as the
                # article's loop held on to what encode() gave back.
                outs = model.encode(texts, batch_size=a.batch_size, normalize_embeddings=True,
                                    output_value=None, show_progress_bar=False)
                kept.append(outs)
                emb = np.stack([o["sentence_embedding"].float().cpu().numpy() for o in outs])
            else:
                emb = model.encode(texts, batch_size=a.batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
            if a.reply_embeddings:
                reply = {"id": rid, "embeddings": emb.tolist()}
            else:
                out.write(emb.astype("<f4").tobytes())
                out.flush()
                reply = {"id": rid, "count": len(texts), "dim": dim}
        except Exception as e:  # a reply, never a silent death
            reply = {"id": rid, "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    if out is not None:
        out.close()
        if a.out is None:
            os.remove(out_path)

if __name__ == "__main__":
    main()
