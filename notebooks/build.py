"""Build the course notebooks from their sources and run them on the tiny preset.

Each notebook is written as a py:percent file in `notebooks/src/` (readable diffs, easy review)
and committed as `notebooks/NN_topic.ipynb` with the outputs of a tiny-preset run, so readers
on GitHub see the figures and nbval has reference outputs to compare (DESIGN.md, Notebooks).

    python notebooks/build.py                 # every notebook
    python notebooks/build.py 01_teacher      # the ones whose name starts so

`tests/test_notebook_sources.py` checks that every .ipynb matches its source.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
SOURCES = NOTEBOOKS / "src"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def read_source(src: Path) -> nbformat.NotebookNode:
    """The notebook that a py:percent source describes, without outputs."""
    nb = jupytext.read(src)
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    return nb


def stderr_warnings(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"cell {i}: {out.get('text', '')[:200]}"
        for i, cell in enumerate(nb.cells)
        for out in cell.get("outputs", [])
        if out.get("name") == "stderr" and "Warning" in out.get("text", "")
    ]


def build(src: Path) -> Path:
    nb = read_source(src)
    os.environ["KPOD_PRESET"] = "tiny"  # committed outputs always come from the tiny preset
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    elapsed = time.perf_counter() - start
    warnings = stderr_warnings(nb)
    if warnings:
        raise SystemExit(f"{src.name}: warnings left in outputs (fix them, do not hide them):\n"
                         + "\n".join(warnings))
    out = NOTEBOOKS / f"{src.stem}.ipynb"
    nbformat.write(nb, out)
    print(f"{out.relative_to(NOTEBOOKS.parent)}: {len(nb.cells)} cells, ran in {elapsed:.1f} s")
    return out


def main(argv: list[str]) -> None:
    sources = sorted(SOURCES.glob("*.py"))
    if argv:
        sources = [s for s in sources if any(s.stem.startswith(a) for a in argv)]
    if not sources:
        raise SystemExit(f"no notebook source matches {argv} in {SOURCES}")
    for src in sources:
        build(src)


if __name__ == "__main__":
    main(sys.argv[1:])
