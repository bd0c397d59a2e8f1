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
(`unknown_characters`), whitespace included (U+2028 is whitespace to FlanT5's normaliser, but
not to every tokenizer). LLaMA's tokenizer (byte fallback) and the tiny students' byte-level
BPE never do, so their text is left exactly as the teacher wrote it. A character the tokenizer
does not know and nothing replaces (e.g. "<": there is no ASCII "less than" FlanT5 knows
either) is left in place and counted, never dropped silently: `SymbolReport.unknown` says
which and how often, and `unk_tokens_after` how many `<unk>` the rationales still hold.

A replacement may be longer than the character ("→" becomes "->") or empty. The template
teacher's keypoint `spans` are character offsets into the rationale, so
`normalize_rationale_records` moves them with the text: every span covers, after the rewrite,
what its characters became (`StudentSymbols.rewrite_with_offsets`). An entry may also list
alternatives, tried in order, for a vocabulary that lacks the first (≈ becomes "~", or "="
where "~" is unknown too): a replacement is used only when the tokenizer knows all of it.

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
→ ⇒ (arrows)            -> =>    GPT-3.5's "so" between steps ("48 / 6 = 8 → 8 per box"); a
                                 one-character ">" would read as "greater than"
≈ (almost equal)        ~ or =   a rounded result ("24 / 7 ≈ 3.43"); "=" where "~" is unknown
≥ ≠                     >= !=    comparisons, in the usual ASCII spelling
• (bullet)              -        a list item marker
U+2028, U+2029          newline  line and paragraph separators (a space where "\\n" is unknown)
======================  =======  ==================================================

And by Unicode category, for characters the table does not name:

* **symbols** (So, Sk: ✓ ✗ ❌, emoji and their skin-tone modifiers, ©, °) become a space: a
  check mark or an emoji says nothing the student should learn to write, and a space keeps
  the words on either side apart;
* **invisible format characters** (Cf: the zero-width joiner inside emoji sequences, direction
  marks) and **variation selectors** (U+FE00-FE0F, "✔️" is ✔ + U+FE0F) are dropped: they
  only change how the character before them is drawn.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ASCII_REPLACEMENTS", "CATEGORY_REPLACEMENTS", "SymbolReport", "StudentSymbols", "unknown_characters",
           "category_replacement", "normalize_rationale_records", "normalize_rationale_file"]

# A string, or alternatives tried in order (the first the tokenizer knows all of).
ASCII_REPLACEMENTS: dict[str, str | tuple[str, ...]] = {
    "÷": "/", "×": "*", "−": "-", "–": "-", "—": "-",
    "‘": "'", "’": "'", "“": '"', "”": '"',
    "{": "(", "}": ")", "\\": " ", "·": "*", "⋅": "*",
    "→": "->", "⇒": "=>", "≈": ("~", "="), "≥": ">=", "≠": "!=", "•": "-",
    "\u2028": ("\n", " "), "\u2029": ("\n", " "),
}

# Unicode categories replaced when the table has no entry (module docstring).
CATEGORY_REPLACEMENTS: dict[str, str] = {"So": " ", "Sk": " ", "Cf": ""}


def category_replacement(character: str) -> str | None:
    """What a character the table does not name becomes, by its Unicode category (None: kept)."""
    if "\ufe00" <= character <= "\ufe0f" or "\U000e0100" <= character <= "\U000e01ef":  # variation selectors
        return ""
    return CATEGORY_REPLACEMENTS.get(unicodedata.category(character))


def unknown_characters(tokenizer, characters: Iterable[str]) -> set[str]:
    """The characters that `tokenizer` encodes, on their own, with its unk token. No character
    for a tokenizer without one (it cannot fail to know a character). A whitespace character is
    checked too: a normaliser that knows it gives no token at all, one that does not, `<unk>`."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:
        return set()
    return {character for character in set(characters)
            if unk in tokenizer(character, add_special_tokens=False)["input_ids"]}


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

    def __init__(self, tokenizer, replacements: dict[str, str | tuple[str, ...]] | None = None):
        self.tokenizer = tokenizer
        self.replacements = dict(ASCII_REPLACEMENTS if replacements is None else replacements)
        wrong = {c: r for c, r in self.replacements.items()
                 if not isinstance(c, str) or len(c) != 1 or not _alternatives(r)}
        if wrong:
            raise ValueError(f"symbol replacements map one character to a string, or to a tuple of strings tried "
                             f"in order; fix these entries: {wrong}")
        self._unknown: dict[str, bool] = {}
        self._chosen: dict[str, str | None] = {}
        self.report = SymbolReport()

    def _is_unknown(self, character: str) -> bool:
        if character not in self._unknown:
            self._unknown[character] = character in unknown_characters(self.tokenizer, character)
        return self._unknown[character]

    def replacement(self, character: str) -> str | None:
        """What an unknown `character` becomes: the first alternative of its table entry (or of
        its Unicode category, `category_replacement`) that the tokenizer knows all of; None
        when there is none (the character stays, counted as unknown)."""
        if character not in self._chosen:
            entry = self.replacements.get(character)
            if entry is None:
                entry = category_replacement(character)
            known = [option for option in _alternatives(entry) or ()
                     if not any(self._is_unknown(c) for c in option)]
            self._chosen[character] = known[0] if known else None
        return self._chosen[character]

    def _unk_tokens(self, text: str) -> int:
        unk = self.tokenizer.unk_token_id
        return 0 if unk is None else list(self.tokenizer(text, add_special_tokens=False)["input_ids"]).count(unk)

    def rewrite_with_offsets(self, text: str) -> tuple[str, list[int]]:
        """(`text` rewritten, `starts`): every character the tokenizer does not know replaced
        (`replacement`), counted in `report`; `starts[i]` is where the i-th character of `text`
        begins in the rewritten text, and `starts[len(text)]` its length, so the characters
        [a, b) of `text` became [starts[a], starts[b]) of the rewrite."""
        out, starts, position = [], [], 0
        for character in text:
            starts.append(position)
            if self._is_unknown(character):  # one tokenizer call per distinct character
                replacement = self.replacement(character)
                if replacement is not None:
                    self.report.replaced[character] += 1
                    character = replacement
                else:
                    self.report.unknown[character] += 1
            out.append(character)
            position += len(character)
        starts.append(position)
        rewritten = "".join(out)
        self.report.texts += 1
        self.report.texts_changed += rewritten != text
        if self.tokenizer.unk_token_id is not None and (rewritten != text or self.report.unknown):
            self.report.unk_tokens_before += self._unk_tokens(text)
            self.report.unk_tokens_after += self._unk_tokens(rewritten)
        return rewritten, starts

    def rewrite(self, text: str) -> str:
        """`text` with every character the tokenizer does not know replaced, when a replacement
        is known (`rewrite_with_offsets`); counted in `report`."""
        return self.rewrite_with_offsets(text)[0]


def _alternatives(entry) -> tuple[str, ...] | None:
    """A table entry as its alternatives, in order; None for an entry that is neither a string
    nor a non-empty tuple of strings."""
    if isinstance(entry, str):
        return (entry,)
    if isinstance(entry, tuple) and entry and all(isinstance(option, str) for option in entry):
        return entry
    return None


def normalize_rationale_records(records: Iterable[dict], tokenizer) -> tuple[list[dict], SymbolReport]:
    """Rationale records with their `rationale` rewritten for the student (`StudentSymbols`), and
    what was done. Their keypoint `spans` (character offsets, [start, end, label]) move with the
    text, so each covers what its characters became; other fields are kept."""
    symbols = StudentSymbols(tokenizer)
    out = []
    for record in records:
        rewritten, starts = symbols.rewrite_with_offsets(str(record["rationale"]))
        if rewritten == record["rationale"]:
            out.append(record)
            continue
        record = {**record, "rationale": rewritten}
        if record.get("spans"):
            record["spans"] = [[starts[start], starts[end], *rest] for start, end, *rest in record["spans"]]
        out.append(record)
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
