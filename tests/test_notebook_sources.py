"""Every committed notebook matches its py:percent source and follows the house rules (DESIGN.md)."""

import json
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted((NOTEBOOKS / "src").glob("*.py"))


def test_every_notebook_has_a_source_and_back():
    built = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert built == {s.stem for s in SOURCES}, "run: python notebooks/build.py"


@pytest.mark.parametrize("src", SOURCES, ids=[s.stem for s in SOURCES])
def test_notebook_matches_source_and_rules(src):
    committed = json.loads((NOTEBOOKS / f"{src.stem}.ipynb").read_text())
    expected = jupytext.read(src)
    as_text = lambda cell: "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    assert [(c["cell_type"], as_text(c)) for c in committed["cells"]] == [
        (c.cell_type, c.source) for c in expected.cells
    ], f"{src.name} changed since the notebook was built: python notebooks/build.py {src.stem}"

    cells = committed["cells"]
    assert "colab-badge" in as_text(cells[0]), "the first cell opens with an Open in Colab badge"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), "committed with tiny-preset outputs"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and "KPOD_PRESET" in as_text(params[0]), "one config cell, tagged parameters"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
