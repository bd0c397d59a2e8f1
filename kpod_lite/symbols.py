"""Teacher text the student can write: symbols its vocabulary lacks, replaced by ASCII ones.

A teacher LLM writes "48 ÷ 2 = 24", "3 × 4", "5 − 2" (U+2212) or "“half”"; FlanT5's
SentencePiece vocabulary has no piece for "÷", "×", "−", "{", "}", "\\\\" or "<", and
encodes each as `<unk>` (id 2). A rationale with `<unk>` in it would teach the student to
write `<unk>` where the keypoint is (an operator, §3.3), its weight w_j (Eq. 3) and its step
difficulty (Eq. 8) would be computed on `<unk>`, and the answer sentence the student later
writes could not be read back. KPOD's students (App. A) are tokenised as the hub gives them,
so the fix belongs to the text: before the token weighting, each rationale is rewritten with
`ASCII_REPLACEMENTS`, and the weighting (Eq. 3), the difficulty (Eq. 8) and the loss (Eq. 15)
then all see the same rewritten text.

Which characters are replaced is the student tokenizer's decision, not a fixed list: a
character is replaced only when the tokenizer maps it, on its own, to its `unk_token_id`
(`unknown_characters`). LLaMA's tokenizer (byte fallback) and the tiny students' byte-level
BPE never do, so their text is left exactly as the teacher wrote it. Every replacement is one
character for one character, so the template teacher's keypoint `spans` (character offsets
into the rationale) stay valid. A character the tokenizer does not know and the table has no
entry for (e.g. "<": there is no one-character ASCII "less than") is left in place and
counted, never dropped silently: `SymbolReport.unknown` says which and how often, and
`unk_tokens_after` how many `<unk>` the rationales still hold.

The table, and why each entry:

======================  =======  ==================================================
character               becomes  why
======================  =======  ==================================================
÷ (division sign)       /        the operator GSM8K-style solutions write
× (multiplication)      *        the operator the synthetic rationales write
− (U+2212 minus)        -        typeset minus; a hyphen-minus is what the student reads
– — (en, em dash)       -        "3–5", "pages 3—5": a range or a minus between numbers
‘ ’ (curly single)      '        possessives and quotes, as in "Ben's"
“ ” (curly double)      "        quotes
{ }                     ( )      LaTeX-style grouping, "\\frac{3}{4}": keep the grouping
\\\\ (backslash)          space    a LaTeX command marker ("\\times"): not text to learn
· ⋅ (middle dot, sdot)  *        multiplication
======================  =======  ==================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ASCII_REPLACEMENTS", "SymbolReport", "StudentSymbols", "unknown_characters",
           "normalize_rationale_records", "normalize_rationale_file"]

# One character for one character, so character offsets (keypoint spans) stay valid.
ASCII_REPLACEMENTS: dict[str, str] = {
    "÷": "/", "×": "*", "−": "-", "–": "-", "—": "-",
    "‘": "'", "’": "'", "“": '"', "”": '"',
    "{": "(", "}": ")", "\\": " ", "·": "*", "⋅": "*",
}


def unknown_characters(tokenizer, characters: Iterable[str]) -> set[str]:
    """The characters that `tokenizer` encodes, on their own, with its unk token. None for a
    tokenizer without one (it cannot fail to know a character)."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:
        return set()
    found = set()
    for character in set(characters):
        if not character.isspace() and unk in tokenizer(character, add_special_tokens=False)["input_ids"]:
            found.add(character)
    return found


@dataclass
class SymbolReport:
    """What `StudentSymbols` did to a set of texts: characters replaced (by character), unknown
    characters left in place (no table entry, or the replacement is unknown too), the texts
    changed, and the `<unk>` tokens the tokenizer gives the texts before and after."""

    texts: int = 0
    texts_changed: int = 0
    replaced: Counter = field(default_factory=Counter)
    unknown: Counter = field(default_factory=Counter)
    unk_tokens_before: int = 0
    unk_tokens_after: int = 0

    def to_dict(self) -> dict:
        return {"texts": self.texts, "texts_changed": self.texts_changed,
                "replaced": dict(sorted(self.replaced.items())), "unknown": dict(sorted(self.unknown.items())),
                "unk_tokens_before": self.unk_tokens_before, "unk_tokens_after": self.unk_tokens_after}


class StudentSymbols:
    """Rewrites text for one student tokenizer (module docstring), remembering which characters
    it has already checked, and counts what it did in `report`."""

    def __init__(self, tokenizer, replacements: dict[str, str] | None = None):
        self.tokenizer = tokenizer
        self.replacements = dict(ASCII_REPLACEMENTS if replacements is None else replacements)
        wrong = {c: r for c, r in self.replacements.items() if len(c) != 1 or len(r) != 1}
        if wrong:
            raise ValueError(f"symbol replacements must be one character for one character (so keypoint spans "
                             f"stay valid), got {wrong}")
        self._unknown: dict[str, bool] = {}
        self.report = SymbolReport()

    def _is_unknown(self, character: str) -> bool:
        if character not in self._unknown:
            self._unknown[character] = character in unknown_characters(self.tokenizer, character)
        return self._unknown[character]

    def _unk_tokens(self, text: str) -> int:
        unk = self.tokenizer.unk_token_id
        return 0 if unk is None else list(self.tokenizer(text, add_special_tokens=False)["input_ids"]).count(unk)

    def rewrite(self, text: str) -> str:
        """`text` with every character the tokenizer does not know replaced from the table,
        when the replacement is known; counted in `report`."""
        out = []
        for character in text:
            if self._is_unknown(character):  # one tokenizer call per distinct character
                replacement = self.replacements.get(character)
                if replacement is not None and not self._is_unknown(replacement):
                    self.report.replaced[character] += 1
                    character = replacement
                else:
                    self.report.unknown[character] += 1
            out.append(character)
        rewritten = "".join(out)
        self.report.texts += 1
        self.report.texts_changed += rewritten != text
        if self.tokenizer.unk_token_id is not None and (rewritten != text or self.report.unknown):
            self.report.unk_tokens_before += self._unk_tokens(text)
            self.report.unk_tokens_after += self._unk_tokens(rewritten)
        return rewritten


def normalize_rationale_records(records: Iterable[dict], tokenizer) -> tuple[list[dict], SymbolReport]:
    """Rationale records with their `rationale` rewritten for the student (`StudentSymbols`), and
    what was done. Other fields, `spans` included, are kept: the rewrite keeps every length."""
    symbols = StudentSymbols(tokenizer)
    out = []
    for record in records:
        rewritten = symbols.rewrite(str(record["rationale"]))
        out.append(record if rewritten == record["rationale"] else {**record, "rationale": rewritten})
    return out, symbols.report


def normalize_rationale_file(path: Path | str, tokenizer) -> dict:
    """Rewrite a rationale file (JSON Lines) in place for the student, atomically, and return
    the report (`SymbolReport.to_dict`, with the path). A file with nothing to replace is not
    rewritten. Rewriting an already rewritten file changes nothing (the replacements are known
    to the tokenizer), so a run killed between the rewrite and its record can simply redo it."""
    from kpod_lite.data import read_jsonl, write_jsonl

    records = [record for _, record in read_jsonl(path)]
    rewritten, report = normalize_rationale_records(records, tokenizer)
    if report.texts_changed:
        write_jsonl(path, rewritten)
    return {**report.to_dict(), "path": str(path)}
