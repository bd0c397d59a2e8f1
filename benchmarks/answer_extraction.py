"""Answer extraction on GPT-3.5-style rationales: the last number in the text against the concluding sentence.

Prints one JSON object:

    PYTHONPATH=. python benchmarks/answer_extraction.py            # ~1 s

`kpod_lite.data.extract_answer` reads the teacher's answer out of its rationale (§3.1: only
rationales that reach the gold answer are kept). Without an answer trigger the old rule
(``without_trigger="last"``) takes the last number / option letter of the text; the new one
(``"conclusion"``) reads the last sentence that holds one. Both run on the same items, side by
side:

* ``data_samples/teacher_style/labelled_rationales.jsonl`` -- 120 invented rationales in
  GPT-3.5 styles, each with its answer (written and committed before the rule changed);
* ``data_samples/formats/mcckd_train.json`` -- an MCC-KD-style train file: how many of its
  rationales agree with the label (some are meant to be wrong, so 100% is not the goal).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kpod_lite.data import answers_match, extract_answer, load_examples, read_jsonl  # noqa: E402

RULES = ("last", "conclusion")


def labelled(path: Path) -> dict:
    per_style: dict[str, dict[str, int]] = defaultdict(lambda: {"n": 0, **{rule: 0 for rule in RULES}})
    missed: dict[str, list] = {rule: [] for rule in RULES}
    for line, item in read_jsonl(path):
        style = per_style[item["style"]]
        style["n"] += 1
        for rule in RULES:
            got = extract_answer(item["text"], item["kind"], without_trigger=rule)
            if answers_match(got, item["answer"], item["kind"]):
                style[rule] += 1
            else:
                missed[rule].append({"line": line, "style": item["style"], "gold": item["answer"], "got": got})
    n = sum(s["n"] for s in per_style.values())
    totals = {rule: sum(s[rule] for s in per_style.values()) for rule in RULES}
    old_lines = {m["line"] for m in missed["last"]}
    new_lines = {m["line"] for m in missed["conclusion"]}
    return {
        "items": n,
        "agreement": {rule: round(totals[rule] / n, 4) for rule in RULES},
        "correct": totals,
        "per_style": dict(sorted(per_style.items())),
        "new_rule_misses": missed["conclusion"],
        "fixed_by_new_rule": len(old_lines - new_lines),
        "broken_by_new_rule": sorted(new_lines - old_lines),
    }


def teacher_file(path: Path) -> dict:
    examples = load_examples(path, "instruction")
    agree = {rule: 0 for rule in RULES}
    rationales = 0
    for example in examples:
        for text in example.meta["output"]:
            rationales += 1
            for rule in RULES:
                got = extract_answer(text, example.answer_kind, without_trigger=rule)
                agree[rule] += answers_match(got, example.answer, example.answer_kind)
    return {"questions": len(examples), "rationales": rationales, "agree_with_label": agree}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelled", type=Path, default=REPO / "data_samples/teacher_style/labelled_rationales.jsonl")
    parser.add_argument("--teacher-file", type=Path, default=REPO / "data_samples/formats/mcckd_train.json")
    args = parser.parse_args()
    report = {"rules": {"last": "the older rule", "conclusion": "the default"},
              "labelled": labelled(args.labelled), "mcckd_train": teacher_file(args.teacher_file)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
