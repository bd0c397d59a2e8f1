"""Reading token weight records back: the checks every stage that uses the weights runs.

A weight record `{"id", "sample", "tokens", "offsets", "weights"}` (written by `output.weigh`)
gives w_j (Eq. 3) for every student token of one rationale. The step difficulty (Eq. 8) and
the distillation loss (Eq. 15) both pair those weights with the tokens they score or train,
so a record that belongs to another rationale, another tokenizer, or holds a weight outside
[0, 1] would silently weight the wrong tokens, or train a NaN student. `paired_weights` is the
one place that refuses such records, with an error naming the file, the line and the field.
"""

from __future__ import annotations

import math

from kpod_lite.consistency import checked_key, record_error
from kpod_lite.data import rationale_key
from kpod_lite.templates import rationale_tokens

__all__ = ["record_origin", "record_error", "check_rationale_records", "check_alignment", "paired_weights"]


def record_origin(source: str, line: int | None, index: int, record: dict) -> dict:
    """Where a record came from, for errors: a file and line, or a position in a list."""
    label = f"id {record.get('id')!r} sample {record.get('sample', 0)}"
    return {"path": source, "line": line, "record": label if line is not None else f"record [{index}] ({label})"}


def _named(where: dict) -> str:
    return where["record"] + (f", line {where['line']}" if where["line"] else "")


def check_rationale_records(rationales: list[tuple[dict, dict]], fields=("id", "question", "rationale")) -> None:
    """Refuse a rationale record that lacks one of `fields`, has an empty rationale (nothing to
    score, Eq. 8, or to distil, Eq. 15), or repeats an (id, sample) of an earlier one.
    `rationales` are (origin, record) pairs (`record_origin`)."""
    seen: dict[tuple[str, int], dict] = {}
    for where, record in rationales:
        for field in fields:
            if field not in record:
                raise record_error(where, field, "missing")
        checked_key(where, record)
        if not isinstance(record["rationale"], str):
            raise record_error(where, "rationale", f"must be the rationale's text, got {record['rationale']!r}")
        if not str(record["rationale"]).strip():
            raise record_error(where, "rationale", "empty: a rationale without steps can be neither scored (Eq. 8) "
                               "nor distilled; drop failed teacher answers first")
        key = rationale_key(record)
        if key in seen:
            raise record_error(where, "id", f"a second rationale record for this id and sample "
                               f"(first: {_named(seen[key])})")
        seen[key] = where


def check_alignment(tokenizer, rationale: str, weight_record: dict, where: dict | None = None) -> tuple[list[int], list[tuple[int, int]]]:
    """The rationale's (ids, offsets), after checking that they are the weight record's tokens
    and that every weight is a number in [0, 1] (a σ output, Eq. 3).

    Raises `DataFormatError` naming the first token that differs: the weights were then made
    with another tokenizer or for another rationale text, and Eq. 8 or Eq. 15 would pair each
    token with another token's weight.
    """
    where = where or {"path": "<weight record>", "line": None, "record": f"id {weight_record.get('id')!r}"}
    ids, offsets = rationale_tokens(tokenizer, rationale)
    mine = tokenizer.convert_ids_to_tokens(ids)
    theirs = list(weight_record.get("tokens", []))
    for j, (a, b) in enumerate(zip(mine, theirs)):
        if a != b:
            raise record_error(where, "tokens", f"token {j} is {b!r} in the weight record but {a!r} for the student "
                         "tokenizer on the rationale: weights made with another tokenizer or another rationale")
    if len(mine) != len(theirs):
        raise record_error(where, "tokens", f"{len(theirs)} tokens in the weight record but {len(mine)} for the "
                     "student tokenizer on the rationale: weights made with another tokenizer or another rationale")
    weights = weight_record.get("weights", [])
    if not isinstance(weights, list) or len(weights) != len(ids):
        raise record_error(where, "weights", f"{len(weights) if isinstance(weights, list) else weights!r} weights for "
                     f"{len(ids)} tokens")
    for j, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or not 0 <= w <= 1:
            raise record_error(where, "weights", f"weight {j} is {w!r}: token weights are sigmoid outputs in [0, 1] "
                         "(Eq. 3); re-run kpod-lite weigh")
    if "offsets" in weight_record and [tuple(o) for o in weight_record["offsets"]] != offsets:
        raise record_error(where, "offsets", "the character offsets differ from the student tokenizer's on the rationale")
    return ids, offsets


def paired_weights(rationales: list[tuple[dict, dict]], weights: list[tuple[dict, dict]], tokenizer) -> dict:
    """(id, sample) -> the checked weight record of every rationale (`check_alignment`).

    `rationales` and `weights` are (origin, record) pairs (`record_origin`). A weight record
    without an id, two for one rationale, or a rationale without one is a `DataFormatError`
    naming the record.
    """
    by_key: dict[tuple[str, int], tuple[dict, dict]] = {}
    for where, record in weights:
        key = checked_key(where, record)
        if key in by_key:
            raise record_error(where, "id", f"a second weight record for this id and sample "
                               f"(first: {_named(by_key[key][0])})")
        by_key[key] = (where, record)
    paired = {}
    for where, record in rationales:
        key = rationale_key(record)
        if key not in by_key:
            source = weights[0][0]["path"] if weights else "the weight records"
            raise record_error(where, None, f"no token weight record for this id and sample in {source}")
        weight_where, weight_record = by_key[key]
        check_alignment(tokenizer, record["rationale"], weight_record, weight_where)
        paired[key] = weight_record
    return paired
