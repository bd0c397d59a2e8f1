"""Does weighting make keypoints more exact? Teacher-forced accuracy by token class (§3.3).

§3.3 argues that the keypoint tokens of a rationale (numbers, operators, results) matter more
than filler ("just", "simply"), and Eq. 15 weights the loss accordingly. The claim it implies is
measurable on rationales whose characters carry keypoint / filler labels (the template
teacher's `spans`, `kpod_lite.synthetic`): give the distilled student the question and the
teacher's rationale up to token j (teacher forcing), and count whether its most likely next
token is r_j, separately for each class of token. A student distilled with the weights should
then be more exact on keypoints, relative to plain CoT distillation, than on filler.

Tokens are joined exactly as in distillation (`templates.encode_student_example`, no given
steps: the test-time input) and labelled as the weighting evidence labels them
(`weighting.evidence.token_classes`); tokens of the answer sentence are left out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch

from kpod_lite.config import KPODConfig
from kpod_lite.data import read_jsonl
from kpod_lite.families import family_of
from kpod_lite.models import pad_right
from kpod_lite.synthetic import KEYPOINT_LABELS
from kpod_lite.templates import build_prompt, encode_student_example, format_rationale_target
from kpod_lite.weighting.evidence import token_classes


def class_accuracy(model, tokenizer, records: Sequence[dict], config: KPODConfig, batch_size: int = 16) -> dict:
    """{class: [correct, tokens]} of teacher-forced next-token predictions on `records`
    (rationale records with `spans`), plus "keypoint" and "not keypoint" totals."""
    family = family_of(model)
    counts: dict[str, Counter] = {"correct": Counter(), "tokens": Counter()}
    model.eval()
    labelled = [r for r in records if r.get("spans")]
    for start in range(0, len(labelled), batch_size):
        batch = labelled[start:start + batch_size]
        examples = [encode_student_example(tokenizer, family, build_prompt(r["question"], cot_prompt=config.cot_prompt),
                                           format_rationale_target(r["rationale"], r["answer"]),
                                           max_source_length=config.max_source_length,
                                           max_target_length=config.max_target_length) for r in batch]
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        input_ids, attention = pad_right([e.input_ids for e in examples], pad)
        labels, _ = pad_right([e.labels for e in examples], -100)
        with torch.no_grad():
            outputs, aligned = family.forward(model, labels, input_ids=input_ids.to(model.device),
                                              attention_mask=attention.to(model.device))
        predicted = outputs.logits.argmax(-1).cpu()
        aligned = aligned.cpu()
        for row, (record, example) in enumerate(zip(batch, examples)):
            rationale = record["rationale"].strip()
            classes = token_classes(example.target_offsets, record["spans"], rationale)
            # The target's tokens are the labelled positions, in order (seq2seq and causal alike).
            positions = (aligned[row] != -100).nonzero()[:, 0].tolist()
            for position, token_class, (start_char, _) in zip(positions, classes, example.target_offsets):
                if token_class is None or start_char >= len(rationale):  # whitespace, or the answer sentence
                    continue
                hit = int(predicted[row, position] == aligned[row, position])
                group = "keypoint" if token_class in KEYPOINT_LABELS else "not keypoint"
                for name in (token_class, group):
                    counts["correct"][name] += hit
                    counts["tokens"][name] += 1
    return {name: [counts["correct"][name], counts["tokens"][name]] for name in sorted(counts["tokens"])}


def run_class_accuracy(run_dir: Path | str, config: KPODConfig, methods: Sequence[str], seeds: Sequence[int],
                       test_set: str = "test") -> dict:
    """`class_accuracy` of every distilled student of a run folder on the template teacher's
    labelled rationales for the test questions (`students/teacher/<test_set>.jsonl`):
    {method: {seed: {class: [correct, tokens]}}}."""
    from kpod_lite.evaluate import load_trained
    from kpod_lite.pipeline.results import student_dir

    run_dir = Path(run_dir)
    source = run_dir / "students" / "teacher" / f"{test_set}.jsonl"
    if not source.exists():
        raise FileNotFoundError(f"{source}: no labelled teacher rationales for the test questions; run the pipeline's "
                                f"evaluate stage with the template teacher (evaluate_teacher) first")
    records = [r for _, r in read_jsonl(source)]
    result: dict = {}
    for method in methods:
        for seed in seeds:
            model, tokenizer = load_trained(student_dir(run_dir, method, seed) / "model", config, device="cpu")
            result.setdefault(method, {})[seed] = class_accuracy(model, tokenizer, records, config)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """python -m kpod_lite.keypoint_accuracy RUN_DIR --methods A B --seeds N: the table as JSON."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kpod_lite.keypoint_accuracy", description=main.__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--seeds", type=int, required=True, help="the run's N seeds: its seed and the next ones")
    args = parser.parse_args(argv)
    config = KPODConfig(**json.loads((args.run_dir / "config.json").read_text(encoding="utf-8")))
    seeds = [config.seed + k for k in range(args.seeds)]  # as kpod-lite run --seeds N distils them
    print(json.dumps(run_class_accuracy(args.run_dir, config, args.methods, seeds), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
