"""Prose in the course: a number it states is one the notebook printed or the paper states, and
a prose cell is short.

Prose is markdown and cannot format a variable, so a measured number typed into it goes stale
when the code changes (a ratio of 87x in prose beside an output of 39x). This check reads each
committed notebook: every percentage, ratio ("39x") and signed difference ("+11.4") in a
markdown cell must appear in one of the notebook's outputs, or among the paper's own figures
that the notebook quotes (listed below, with where the paper gives them).
"""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# A measured-looking number: 23%, 39x, 87 times, 1.28×, +11.4, −29.1 (a difference), 2.6 points.
STATED = re.compile(r"(?<![\w.,])([+−-]?)(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s?(%|x\b|×|\s?times\b|\s?points?\b)|(?<![\w.])([+−])(\d+\.\d+)")

# Figures quoted from the paper, by notebook: they are not this project's measurements.
PAPER = {
    # Table 2 (LLaMA-7B, GSM8K): the ablations lose 2.6 to 4.1 points; the schedule's 3.5.
    "07": {"2.6", "4.1", "3.5"},
}
# Figures that define the setting rather than measure it (e.g. Eq. 15's floor of 20%).
SETTINGS = {
    "*": {"100", "50", "20", "0.5"},
}


def stated_numbers(cell_source: str) -> set[str]:
    found = set()
    for match in STATED.finditer(cell_source.replace("`", " ")):
        number = match.group(2) or match.group(5)
        found.add(number)
    return found


def printed_text(notebook: dict) -> str:
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if "text" in output:
                parts.append("".join(output["text"]))
            for kind in ("text/plain", "text/markdown", "text/html"):
                if kind in output.get("data", {}):
                    parts.append("".join(output["data"][kind]))
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_prose_numbers_come_from_outputs(path):
    notebook = json.loads(path.read_text())
    printed = printed_text(notebook)
    allowed = PAPER.get(path.name[:2], set()) | SETTINGS["*"]
    unbacked = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for number in stated_numbers("".join(cell["source"])):
            spelled = {number, number.replace(",", "")}
            if spelled & allowed or any(re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d])", printed) for form in spelled):
                continue
            unbacked.append(f"cell {index}: {number}")
    assert not unbacked, (f"{path.name}: numbers in prose that no output of the notebook prints; print them "
                          f"from a variable beside the prose, or, for the paper's figures, list them in PAPER: "
                          + "; ".join(unbacked))


BADGE = re.compile(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)")
PROSE_CELL_WORDS = 170  # "about 150" (notebooks/README.md): a reader's screen, not a page


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_prose_cells_are_short(path):
    notebook = json.loads(path.read_text())
    long = [(index, len(BADGE.sub("", "".join(cell["source"])).split()))
            for index, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "markdown"]
    long = [(index, words) for index, words in long if words > PROSE_CELL_WORDS]
    assert not long, f"{path.name}: prose cells over {PROSE_CELL_WORDS} words (cell, words): {long}; split or cut them"
