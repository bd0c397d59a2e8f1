"""kpod_lite.keypoint_accuracy: teacher-forced next-token accuracy per token class (§3.3)."""

import pytest

from kpod_lite.config import preset
from kpod_lite.keypoint_accuracy import class_accuracy
from kpod_lite.models import load_student
from kpod_lite.synthetic import KEYPOINT_LABELS, generate_dataset
from kpod_lite.templates import rationale_tokens
from kpod_lite.weighting.evidence import token_classes


@pytest.mark.parametrize("name", ["tiny-t5", "tiny-llama"])
def test_every_labelled_rationale_token_is_counted_once_in_its_class(name):
    cfg = preset("tiny", student=name)
    model, tokenizer = load_student(cfg, device="cpu")
    records = [{"id": p.id, "question": p.question, "answer": p.answer, "rationale": p.rationale,
                "spans": [[s.start, s.end, s.label] for s in p.spans]} for p in generate_dataset(6, seed=3)]
    result = class_accuracy(model, tokenizer, records, cfg, batch_size=4)
    expected = {}
    for record in records:
        _, offsets = rationale_tokens(tokenizer, record["rationale"])
        for label in token_classes(offsets, record["spans"], record["rationale"]):
            if label is not None:
                expected[label] = expected.get(label, 0) + 1
    assert {k: v[1] for k, v in result.items() if k not in ("keypoint", "not keypoint")} == expected
    assert result["keypoint"][1] == sum(n for k, n in expected.items() if k in KEYPOINT_LABELS)
    assert all(0 <= correct <= total for correct, total in result.values())
