"""Every committed notebook matches its py:percent source and follows the house rules (notebooks/README.md)."""

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


def _build_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_badge_and_install_cell_points_at_the_one_repository_setting():
    build = _build_module()
    repository = build.repository()
    name = repository.removeprefix("https://github.com/")
    for path in build.pointing_files():
        assert build.github_names(path.read_text(encoding="utf-8")) <= {name}, \
            f"{path.name} points elsewhere than pyproject.toml's Repository: python notebooks/build.py --repository URL"
    install = build.INSTALL_CELL.format(repository=repository)
    for src in SOURCES:
        cells = jupytext.read(src).cells
        assert name in cells[0].source, f"{src.name}: the Colab badge"
        assert cells[1].source == install, f"{src.name}: the install cell is notebooks/build.py's INSTALL_CELL"


def test_relocating_moves_every_pointer_and_nothing_else(tmp_path):
    import shutil

    build = _build_module()
    root = NOTEBOOKS.parent
    for path in [root / "pyproject.toml", *build.pointing_files()]:
        target = tmp_path / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    before = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    changed = build.relocate("https://github.com/a-course/kpod-fork", tmp_path)
    assert build.repository(tmp_path) == "https://github.com/a-course/kpod-fork"
    assert tmp_path / "README.md" in changed and len(changed) == len(before)
    for path, text in before.items():
        moved = path.read_text()
        assert build.github_names(moved) <= {"a-course/kpod-fork"}
        # Only the addresses changed: the same text once the new name is read as the old.
        assert moved.replace("a-course/kpod-fork", build.repository().removeprefix("https://github.com/")) == text
    with pytest.raises(SystemExit, match="OWNER/NAME"):
        build.relocate("git@github.com:a/b.git", tmp_path)


@pytest.mark.parametrize("src", SOURCES, ids=[s.stem for s in SOURCES])
def test_the_cell_that_first_imports_pyplot_turns_on_inline_figures(src):
    """Under ipykernel 6 (Colab's, and the oldest that pyproject allows) pyplot imported inside a
    cell leaves its figures undrawn or drawn at the end of the next cell, which the figure check of
    conftest.py caught in notebooks 00 and 01. `%matplotlib inline` first sets the backend up."""
    import re

    code = [c.source for c in jupytext.read(src).cells if c.cell_type == "code"]
    pyplot = re.compile(r"(?m)^(import matplotlib|from matplotlib|import kpod_lite\.viz|from kpod_lite\.viz import"
                        r"|from kpod_lite import[^\n]*\bviz\b)")
    first = next((s for s in code if pyplot.search(s)), None)
    assert first is not None, f"{src.name} draws nothing: drop this test's rule for it"
    assert first.startswith("%matplotlib inline\n"), \
        f"{src.name}: open the cell that first imports pyplot with %matplotlib inline"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_hub_progress_bars_are_hidden_only_for_the_projects_own_local_students(src):
    # A GPU preset's first load is a multi-GB download; without its progress bar it looks like a hang.
    import ast

    tree = ast.parse(src.read_text(encoding="utf-8"))
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "is_local_build" in ast.unparse(node.test):
            guarded |= {id(n) for child in node.body for n in ast.walk(child)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("disable_progress_bar"):
            assert id(node) in guarded, f"{src.name}:{node.lineno}: progress bars hidden for every student"
