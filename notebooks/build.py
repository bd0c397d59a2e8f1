"""Build the course notebooks from their sources and run them on the tiny preset.

Each notebook is written as a py:percent file in `notebooks/src/` (readable diffs, easy review)
and committed as `notebooks/NN_topic.ipynb` with the outputs of a tiny-preset run, so readers
on GitHub see the figures and nbval has reference outputs to compare (notebooks/README.md).

    python notebooks/build.py                 # every notebook
    python notebooks/build.py 01_teacher      # the ones whose name starts so
    python notebooks/build.py --repository https://github.com/OWNER/NAME
                                              # move every badge and install cell (runs nothing)

The repository's location is one setting, pyproject.toml's `[project.urls] Repository`: every
notebook's Colab badge and install cell (`INSTALL_CELL`) and the README's badges are stamped
from it. `tests/test_notebook_sources.py` checks that every .ipynb matches its source and that
they all point at that one location.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
SOURCES = NOTEBOOKS / "src"
ROOT = NOTEBOOKS.parent

# The install cell every notebook opens with (its second cell), for the repository `{repository}`.
INSTALL_CELL = """\
# Install (Colab only). Outside Colab this cell does nothing: run the README's set-up command.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    if not os.path.isdir("/content/kpod-lite"):
        subprocess.run(["git", "clone", "--depth", "1", "{repository}",
                        "/content/kpod-lite"], check=True)
    # kpod-lite asks for torch>=2.1 only, which Colab's torch satisfies: pip leaves it alone.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/kpod-lite[teacher]"], check=True)
    sys.path.insert(0, "/content/kpod-lite")  # an editable install is seen only after a restart
    os.chdir("/content/kpod-lite/notebooks")
    from kpod_lite.versions import check_versions

    print(check_versions())  # stops here, naming the fix, if a preinstalled library is too old"""

_ADDRESS = r"https://github\.com/[\w.-]+/[\w.-]+"
_REPOSITORY = re.compile(rf'^Repository = "({_ADDRESS})"$', re.M)
# Where an OWNER/NAME follows: a github.com address, or Colab's notebook-from-GitHub address.
_AFTER = r"(?:(?<=github\.com/)|(?<=colab\.research\.google\.com/github/))"
_GITHUB = re.compile(_AFTER + r"[\w.-]+/[\w.-]+")


def repository(root: Path = ROOT) -> str:
    """The repository's location: pyproject.toml's `[project.urls] Repository`."""
    found = _REPOSITORY.search((root / "pyproject.toml").read_text(encoding="utf-8"))
    if not found:
        raise SystemExit(f"{root / 'pyproject.toml'}: no [project.urls] Repository = \"https://github.com/OWNER/NAME\"")
    return found.group(1)


def pointing_files(root: Path = ROOT) -> list[Path]:
    """The files that hold the repository's location besides pyproject.toml."""
    return [root / "README.md", root / "notebooks" / "README.md", *sorted((root / "notebooks" / "src").glob("*.py")),
            *sorted((root / "notebooks").glob("*.ipynb"))]


def github_names(text: str) -> set[str]:
    """Every OWNER/NAME that a github.com or Colab-from-GitHub address in `text` names."""
    return set(_GITHUB.findall(text))


def relocate(new: str, root: Path = ROOT) -> list[Path]:
    """Point pyproject.toml, the badges and the install cells at `new` (https://github.com/OWNER/NAME);
    returns the files changed. Nothing is run: the notebooks' outputs stay as they are."""
    if not re.fullmatch(_ADDRESS, new):
        raise SystemExit(f"--repository must be https://github.com/OWNER/NAME, got {new!r}")
    old = repository(root).removeprefix("https://github.com/")
    name = new.removeprefix("https://github.com/")
    changed = []
    pyproject = root / "pyproject.toml"
    for path in [pyproject, *pointing_files(root)]:
        text = path.read_text(encoding="utf-8")
        moved = re.sub(rf"{_AFTER}{re.escape(old)}(?![\w.-])", name, text)
        if moved != text:
            path.write_text(moved, encoding="utf-8")
            changed.append(path)
    return changed


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
    if argv[:1] == ["--repository"]:
        if len(argv) != 2:
            raise SystemExit("usage: python notebooks/build.py --repository https://github.com/OWNER/NAME")
        for path in relocate(argv[1]):
            print(f"moved: {path.relative_to(ROOT)}")
        return
    sources = sorted(SOURCES.glob("*.py"))
    if argv:
        sources = [s for s in sources if any(s.stem.startswith(a) for a in argv)]
    if not sources:
        raise SystemExit(f"no notebook source matches {argv} in {SOURCES}")
    for src in sources:
        build(src)


if __name__ == "__main__":
    main(sys.argv[1:])
