"""Inference (§3.3, Eq. 3): one weight w_j per student token of every rationale, and the file.

A rationale longer than `weighting_max_tokens` is read in windows of that many tokens, half
overlapping; a token's weight is the mean over the windows that contain it. `weigh_file`
trains on a rationale file (Eq. 7) and writes the weights of its tokens (`kpod-lite weigh`).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from kpod_lite.config import KPODConfig
from kpod_lite.data import read_jsonl, write_jsonl
from kpod_lite.models import load_student
from kpod_lite.templates import rationale_tokens
from kpod_lite.weighting.generator import TokenWeighter
from kpod_lite.weighting.sizes import weighting_max_tokens
from kpod_lite.weighting.training import train_weighter


def token_weights(weighter: TokenWeighter, ids: list[int], max_tokens: int) -> list[float]:
    """w_j (Eq. 3) for every token; beyond `max_tokens`, the mean over half-overlapping windows."""
    n = len(ids)
    if n == 0:
        return []
    device = weighter.embed.weight.device
    stride = max(1, max_tokens // 2)
    starts = [0] if n <= max_tokens else [*range(0, n - max_tokens, stride), n - max_tokens]
    total, count = torch.zeros(n), torch.zeros(n)
    for start in starts:
        window = torch.tensor([ids[start:start + max_tokens]], device=device)
        w = weighter.weights(window, torch.ones_like(window))[0].float().cpu()
        total[start:start + len(w)] += w
        count[start:start + len(w)] += 1
    return (total / count).tolist()


def weight_record(record, tokenizer, ids: list[int], offsets, weights) -> dict:
    """The weight record of one rationale record: `{"id", "sample", "tokens", "offsets", "weights"}`."""
    return {"id": record["id"], "sample": int(record.get("sample", 0)),
            "tokens": tokenizer.convert_ids_to_tokens(ids), "offsets": [list(o) for o in offsets],
            "weights": weights}


def weigh(records, weighter: TokenWeighter, tokenizer, max_tokens: int = 256) -> list[dict]:
    """Token weight records `{"id", "sample", "tokens", "offsets", "weights"}`, one per rationale.

    Tokens are the student tokenizer's on the rationale alone (`rationale_tokens`); offsets
    index the record's "rationale"; an empty rationale gives empty lists.
    """
    weighter.eval()
    out = []
    for record in records:
        ids, offsets = rationale_tokens(tokenizer, record["rationale"])
        out.append(weight_record(record, tokenizer, ids, offsets,
                                 [round(w, 6) for w in token_weights(weighter, ids, max_tokens)]))
    return out


def write_weights(path, records: list[dict]) -> None:
    """Write token weight records as JSON Lines (atomically, `kpod_lite.data.write_jsonl`)."""
    write_jsonl(path, records)


def weigh_file(rationales_path, out_path, config: KPODConfig, progress: bool = False) -> dict:
    """`kpod-lite weigh`: train on a rationale file (Eq. 7), write the weights of its tokens.

    Returns a summary: rationales and tokens weighed, mean weight, collapse, seconds, history.
    """
    started = time.perf_counter()
    records = [record for _, record in read_jsonl(rationales_path)]
    student, tokenizer = load_student(config)
    # A killed run resumes mask learning from its last finished epoch (weighting.checkpoint).
    checkpoint = Path(f"{out_path}.checkpoint.pt")
    weighter, history = train_weighter(records, config, student=student, tokenizer=tokenizer, progress=progress,
                                       checkpoint=checkpoint)
    weighted = weigh(records, weighter, tokenizer, weighting_max_tokens(config))
    write_weights(out_path, weighted)
    checkpoint.unlink(missing_ok=True)
    weights = [w for record in weighted for w in record["weights"]]
    return {
        "rationales": len(weighted),
        "tokens": len(weights),
        "mean_weight": round(sum(weights) / max(1, len(weights)), 4),
        "collapse": history["collapse"],
        "seconds": round(time.perf_counter() - started, 1),
        "out": str(out_path),
        "history": history,
    }
