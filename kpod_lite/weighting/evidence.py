"""Evidence: do the weights w_j (§3.3, Eq. 3) find the keypoints?

The template teacher's synthetic rationales label every character (keypoint: number,
operator, equals, result, quantity; not: filler, plain). A token takes the label of most of
its non-space characters, and the weights are scored by the AUROC of keypoint against filler
tokens (and against every other token). `evaluate_keypoints` trains on one split (Eq. 7) and
scores another, per seed and α. `oracle_weight_file` turns the labels into weights.
"""

from __future__ import annotations

import json
import time
import warnings

from kpod_lite.config import KPODConfig
from kpod_lite.data import rationale_key
from kpod_lite.models import load_student
from kpod_lite.weighting.output import weigh, weight_record
from kpod_lite.weighting.sizes import weighting_max_tokens
from kpod_lite.weighting.tokens import character_owners
from kpod_lite.weighting.training import WeightCollapseWarning, train_weighter


def token_classes(offsets, spans, text: str) -> list[str | None]:
    """Each token's label: the label of most of the non-space characters it owns (`spans`:
    [start, end, label] over `text`, as the template teacher writes them); None for a token that
    owns none, whitespace or a SentencePiece "▁" whose span its next piece owns
    (`character_owners`), so a marker is not scored as the keypoint after it."""
    labels = {}
    for start, end, label in spans:
        for position in range(int(start), int(end)):
            labels[position] = label
    counts: list[dict[str, int]] = [{} for _ in offsets]
    for position, index in character_owners(offsets).items():
        if position in labels and not text[position].isspace():
            counts[index][labels[position]] = counts[index].get(labels[position], 0) + 1
    return [max(c, key=c.get) if c else None for c in counts]


def oracle_weight_file(rationales_path, out_path, tokenizer) -> dict:
    """The kpod-oracle arm's weights (`kpod_lite.methods`): for every rationale of
    `rationales_path`, a weight record as `output.weigh` writes it whose w_j is 1 for a token
    labelled a keypoint (`KEYPOINT_LABELS`, by `token_classes`) and 0 for any other. An upper
    bound for mask learning (Eq. 2-7) on the synthetic task: what Eq. 8 and 15 would get from a
    weighting module that found exactly the labelled keypoints. Needs the template teacher's
    `spans`; a rationale without them is an error naming its line."""
    from kpod_lite.data import DataFormatError, read_jsonl, write_jsonl
    from kpod_lite.synthetic import KEYPOINT_LABELS
    from kpod_lite.templates import rationale_tokens

    out, kept = [], 0
    for line, record in read_jsonl(rationales_path):
        if not record.get("spans") and record.get("rationale", "").strip():
            raise DataFormatError(rationales_path, line, "spans",
                                  "oracle weights need the keypoint labels that only the template teacher writes "
                                  "(synthetic data); use a method with learned weights for this run")
        ids, offsets = rationale_tokens(tokenizer, record.get("rationale", ""))
        labels = token_classes(offsets, record.get("spans") or [], record.get("rationale", "").strip())
        weights = [1.0 if label in KEYPOINT_LABELS else 0.0 for label in labels]
        kept += sum(weights)
        out.append(weight_record(record, tokenizer, ids, offsets, weights))
    write_jsonl(out_path, out)
    tokens = sum(len(r["weights"]) for r in out)
    return {"rationales": len(out), "tokens": tokens, "mean_weight": round(kept / max(1, tokens), 4)}


def uniform_weight_file(weights_path, out_path) -> dict:
    """The uniform-weight controls' weights (`kpod_lite.methods`): every record of `weights_path`
    (learned, Eq. 3) with each w_j replaced by the mean of all its tokens' w_j. Eq. 15 then
    scales the loss as much as the learned weights do on average, with no token favoured: what
    the learned weights add beyond a smaller effective learning rate is the difference between
    KPOD and kpod-uniform (and between w.o.-prog and w.o.-prog-uniform)."""
    from kpod_lite.data import DataFormatError, read_jsonl, write_jsonl

    records = [record for _, record in read_jsonl(weights_path)]
    tokens = sum(len(r["weights"]) for r in records)
    if not tokens:
        raise DataFormatError(weights_path, None, "weights", "no token weights to average; run the weigh stage first")
    mean = sum(sum(r["weights"]) for r in records) / tokens
    write_jsonl(out_path, [{**r, "weights": [mean] * len(r["weights"])} for r in records])
    return {"rationales": len(records), "tokens": tokens, "mean_weight": round(mean, 4)}


def keypoint_auroc(weight_records, rationale_records) -> dict:
    """AUROC of the weights (Eq. 3) for keypoint against filler tokens, and the mean per class.

    Keypoint labels are `kpod_lite.synthetic.KEYPOINT_LABELS`; whitespace-only tokens are left
    out; "plain" tokens (connecting words, names, units, punctuation) enter only the second
    AUROC, keypoint against every other token. Records are matched on (id, sample).
    """
    from sklearn.metrics import roc_auc_score

    from kpod_lite.synthetic import KEYPOINT_LABELS

    sources = {rationale_key(r): r for r in rationale_records}
    by_class: dict[str, list[float]] = {}
    for record in weight_records:
        source = sources.get(rationale_key(record))
        if source is None or not source.get("spans"):
            continue
        labels = token_classes(record["offsets"], source["spans"], source["rationale"])
        for label, weight in zip(labels, record["weights"]):
            if label is not None:
                by_class.setdefault(label, []).append(float(weight))
    if not by_class:
        raise ValueError("no token could be labelled: the rationale records carry no 'spans' (only the "
                         "template teacher on synthetic data writes them) or match no weight record")
    keypoint = [w for label, ws in by_class.items() if label in KEYPOINT_LABELS for w in ws]
    filler = by_class.get("filler", [])
    rest = [w for label, ws in by_class.items() if label not in KEYPOINT_LABELS for w in ws]

    def auroc(positive, negative):
        if not positive or not negative:
            return None
        return round(float(roc_auc_score([1] * len(positive) + [0] * len(negative), positive + negative)), 4)

    return {
        "auroc_keypoint_vs_filler": auroc(keypoint, filler),
        "auroc_keypoint_vs_rest": auroc(keypoint, rest),
        "mean_weight": {label: round(sum(ws) / len(ws), 4) for label, ws in sorted(by_class.items())},
        "tokens": {label: len(ws) for label, ws in sorted(by_class.items())},
    }


def evaluate_keypoints(train_records, eval_records, config: KPODConfig, seeds=(0,), alphas=None,
                       progress: bool = False) -> dict:
    """Train on `train_records`, weigh `eval_records`, score with `keypoint_auroc`, for each
    seed and α (default: `config.alpha`). Returns {"runs": [...], "summary": {α: mean, min, max}}."""
    student, tokenizer = load_student(config)
    runs = []
    for alpha in alphas or [config.alpha]:
        for seed in seeds:
            run_config = config.replace(alpha=alpha, seed=seed)
            started = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", WeightCollapseWarning)
                weighter, history = train_weighter(train_records, run_config, student=student,
                                                   tokenizer=tokenizer, progress=progress)
            seconds = time.perf_counter() - started
            scores = keypoint_auroc(weigh(eval_records, weighter, tokenizer, weighting_max_tokens(config)),
                                    eval_records)
            runs.append({"alpha": alpha, "seed": seed, "train_seconds": round(seconds, 1),
                         "kept": history["epochs"][-1]["mask_ratio"] if history["epochs"] else None,
                         "collapse": history["collapse"], "warnings": [str(w.message) for w in caught], **scores})
            if progress:
                print(json.dumps(runs[-1]), flush=True)
    summary = {}
    for alpha in alphas or [config.alpha]:
        values = [r["auroc_keypoint_vs_filler"] for r in runs if r["alpha"] == alpha]
        summary[str(alpha)] = {"auroc_mean": round(sum(values) / len(values), 4),
                               "auroc_min": min(values), "auroc_max": max(values)}
    return {"runs": runs, "summary": summary}
