"""What SentencePiece does to KPOD's token bookkeeping, on the stand-in tokenizers
(`kpod_lite.models.standins`). Prints one JSON object:

- `eq15_weight_changed`: per tokenizer, the share of target tokens (inside the remaining
  rationale, over every stage c of Eq. 14) whose Eq. 15 weight differs between the old rule
  (each character owned by the first token covering it, majority vote, ties to the first) and
  `weighting.tokens.matching_rationale_tokens`, with random w_j, and which pieces changed;
- `unk_in_targets`: <unk> tokens in the T5 stand-in's targets before and after
  `kpod_lite.symbols` on the project's sample text (data_samples/: the worked solutions of the
  format samples, as the gold teacher passes them on), and on the same synthetic rationales typeset as an LLM teacher writes them
  (÷ × − for / * -).

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_standin_tokens.py --problems 200
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter

from transformers import AutoTokenizer

from kpod_lite import symbols, synthetic
from kpod_lite.data import split_steps
from kpod_lite.distill import split_at_step
from kpod_lite.families import family_of
from kpod_lite.models import standins, tiny_spec, train_tokenizer, wrap_tokenizer
from kpod_lite.models.tiny import tiny_model_config
from kpod_lite.teacher.offline import split_gsm8k_solution
from kpod_lite.templates import encode_student_example, format_rationale_target, rationale_tokens
from kpod_lite.weighting.tokens import matching_rationale_tokens


def old_rule(rationale_offsets, spans):
    """The rule before the fix: first covering token owns a character; ties to the first."""
    owner = {}
    for index, (start, end) in enumerate(rationale_offsets):
        for position in range(start, end):
            owner.setdefault(position, index)
    out = []
    for start, end in spans:
        votes = Counter(owner[p] for p in range(start, end) if p in owner)
        out.append(votes.most_common(1)[0][0] if votes else None)
    return out


def weight_changes(tokenizer, model_type: str, problems) -> dict:
    family = family_of(tiny_model_config(tiny_spec("tiny-t5-spm" if model_type == "t5" else "tiny-llama-spm"),
                                         len(tokenizer), tokenizer))
    rng = random.Random(0)
    total, changed, pieces = 0, 0, Counter()
    for problem in problems:
        ids, offsets = rationale_tokens(tokenizer, problem.rationale)
        weights = [rng.random() for _ in ids]
        for c in range(len(split_steps(problem.rationale)) + 1):
            _, offset = split_at_step(problem.rationale, c)
            remaining = problem.rationale[offset:].strip()
            example = encode_student_example(tokenizer, family, "Q", format_rationale_target(remaining, problem.answer))
            spans = [(offset + s, offset + min(e, len(remaining))) for s, e in example.target_offsets
                     if s < len(remaining) and e > s]
            for span, old, new in zip(spans, old_rule(offsets, spans), matching_rationale_tokens(offsets, spans)):
                total += 1
                if weights[old] != weights[new]:
                    changed += 1
                    pieces[tokenizer.convert_ids_to_tokens(ids[new])] += 1
    return {"target_tokens": total, "changed": changed, "percent": round(100 * changed / max(1, total), 2),
            "pieces_most_changed": dict(pieces.most_common(8))}


def unk_counts(tokenizer, texts) -> dict:
    rewritten, report = symbols.normalize_rationale_records([{"rationale": t} for t in texts], tokenizer)

    def unks(strings):
        return sum(rationale_tokens(tokenizer, t)[0].count(tokenizer.unk_token_id) for t in strings)

    return {"texts": len(texts), "unk_before": unks(texts), "unk_after": unks(r["rationale"] for r in rewritten),
            "replaced": dict(report.replaced), "unknown_left": dict(report.unknown)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=200)
    args = parser.parse_args()
    problems = synthetic.generate_dataset(args.problems, seed=0)
    t5 = AutoTokenizer.from_pretrained(standins.build_t5_standin_tokenizer())
    llama = AutoTokenizer.from_pretrained(standins.build_llama_standin_tokenizer())
    byte_bpe = wrap_tokenizer(train_tokenizer(standins.standin_corpus()[:2000], 1024, 16), "llama")
    typeset = str.maketrans({"/": "÷", "*": "×", "-": "−"})
    # The format samples' worked solutions, as the gold teacher hands them on (calculator notes cut).
    samples = [split_gsm8k_solution(t)[0] for t in standins._sample_texts() if "=" in t]
    result = {
        "problems": args.problems,
        "eq15_weight_changed": {"t5_standin": weight_changes(t5, "t5", problems),
                                "llama_standin": weight_changes(llama, "llama", problems),
                                "byte_level_bpe": weight_changes(byte_bpe, "llama", problems)},
        "unk_in_targets_t5_standin": {"data_samples_solutions": unk_counts(t5, samples),
                                      "synthetic_typeset": unk_counts(t5, [p.rationale.translate(typeset)
                                                                           for p in problems])},
    }
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
