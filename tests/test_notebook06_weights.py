"""Notebook 06's from-scratch Eq. 15 weights (`my_target_weights`) against the library's rule
(`distill.stage_examples`, `weighting.tokens.matching_rationale_tokens`) on the SentencePiece
stand-ins, where a lone "▁" shares its span with the number or operator after it.

The notebook runs this check itself under nbval, but only on the tiny byte-level student unless
CI runs it again on the colab rehearsal; this test runs the notebook's own function, pulled out
of its source, on both stand-ins. An earlier version that took the first token covering a
character gave "+" the weight of its "▁" marker and failed here (and in notebook 06 on FlanT5).
"""

import ast
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from kpod_lite import data, distill
from kpod_lite.config import preset
from kpod_lite.families import family_of
from kpod_lite.memory import load_model_config

SOURCE = Path(__file__).resolve().parents[1] / "notebooks" / "src" / "06_distill_flan_t5_large.py"


def notebook_function(name: str, namespace: dict):
    """Define the notebook's top-level function `name` in `namespace` and return it."""
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(SOURCE), "exec"), namespace)
    return namespace[name]


RATIONALES = [
    "First, 45 + 38 = 83 muffins. Next, 83 x 3 = 249 dollars. So the bakery made $249.",
    "Tom has 12 apples and gives away 5. 12 - 5 = 7. Then he buys 3 more: 7 + 3 = 10.",
    "Half of 48 is 48 / 2 = 24. Add 6: 24 + 6 = 30 pages in all.",
]


@pytest.mark.parametrize("stand_in", ["t5", "llama"])
def test_notebook_06_weights_agree_with_the_library_on_sentencepiece(stand_in, t5, llama):
    tokenizer = {"t5": t5, "llama": llama}[stand_in]
    cfg = preset({"t5": "colab-rehearsal", "llama": "llama-7b-rehearsal"}[stand_in])
    family = family_of(load_model_config(cfg.student))
    rng = random.Random(0)
    records, weight_records = [], {}
    for k, rationale in enumerate(RATIONALES):
        record = {"id": f"q{k}", "question": "How many?", "answer": "1", "rationale": rationale}
        encoded = tokenizer(rationale, add_special_tokens=False, return_offsets_mapping=True)
        weight_records[(record["id"], 0)] = {"id": record["id"], "tokens": encoded["input_ids"],
                                              "offsets": [list(o) for o in encoded["offset_mapping"]],
                                              "weights": [rng.random() for _ in encoded["input_ids"]]}
        records.append(record)

    namespace = {"data": data, "tokenizer": tokenizer, "Counter": Counter, "cfg": cfg}
    notebook_function("my_stage_example", namespace)  # section 2's (input, target) of Eq. 14
    my_target_weights = notebook_function("my_target_weights", namespace)
    shared_spans = 0
    for record in records:
        shared_spans += len(weight_records[(record["id"], 0)]["offsets"]) - len(
            {tuple(o) for o in weight_records[(record["id"], 0)]["offsets"]})
        for c in range(len(data.split_steps(record["rationale"])) + 1):
            example = distill.stage_examples([record], weight_records, {record["id"]: c}, tokenizer, cfg, family)[0]
            lib = [(t, w) for t, w in zip(example["labels"], example["weights"]) if t != -100]
            ids, weights = my_target_weights(record, c, weight_records[(record["id"], 0)])
            assert ids == [t for t, _ in lib]
            assert torch.allclose(torch.tensor(weights), torch.tensor([w for _, w in lib]))
    if stand_in == "t5":
        assert shared_spans > 0, "the T5 stand-in must give some '▁' the span of the token after it"
