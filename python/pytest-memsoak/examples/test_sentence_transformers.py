"""Soak tests of a sentence-transformers ``encode`` loop (the README's
"From Python" example): the healthy loop, and the first article's leak, a
loop that keeps what ``encode`` gives back.

    MEMSOAK_MODEL_DIR=models/all-MiniLM-L6-v2 python -m pytest -rA \\
        python/pytest-memsoak/examples/test_sentence_transformers.py

Each call encodes one batch of 8 ten-word texts (the same texts every time,
so torch's per-shape caches settle in the warm-up) on one torch thread (the
faster choice on a busy box); the verdict is RSS drift per 1,000 calls.
"""

import os

import pytest

MODEL = os.environ.get("MEMSOAK_MODEL_DIR", "models/all-MiniLM-L6-v2")
TEXTS = [f"text {i} about soak tests of embedding pipelines and their memory" for i in range(8)]
kept = []  # what the leaking loop holds on to


@pytest.fixture(scope="module")
def model():
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    return SentenceTransformer(MODEL, device="cpu")


@pytest.mark.soak(duration="90s", thresholds=["rss.slope_per_1k<8MiB"])
def test_encode_streams_its_outputs(model):
    emb = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert emb.shape == (8, 384)


@pytest.mark.soak(duration="90s", thresholds=["rss.slope_per_1k<8MiB"])
def test_encode_keeping_every_output(model):
    # The article's loop: every batch's whole output (per-token arrays) kept.
    kept.append(model.encode(TEXTS, normalize_embeddings=True, output_value=None))
