"""The modules of `kpod_lite.models` import one another one way only: no module is imported,
directly or through others, by a module it imports. Every import counts, also those inside a
function or under `TYPE_CHECKING`: a circle there still ties the modules together, and the next
top-level import added along it fails at import time. The package itself (`__init__`, which
re-exports every public name) is not a node: `models.tiny` reads `build_tiny_model` through it
so that a test can replace that name on the package."""

import ast
from pathlib import Path

import kpod_lite.models

PACKAGE = "kpod_lite.models"
FOLDER = Path(kpod_lite.models.__file__).parent


def _imported_modules(tree: ast.Module, modules: set[str]) -> set[str]:
    """The submodules of the package that a module's source imports, wherever the import is."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from kpod_lite.models.tiny import x` and `from kpod_lite.models import tiny`
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # relative: resolved against the package
            base = PACKAGE + (f".{node.module}" if node.module else "")
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name.removeprefix(PACKAGE + ".") for name in names if name.startswith(PACKAGE + ".")} & modules
    return found


def import_graph(folder: Path = FOLDER) -> dict[str, set[str]]:
    modules = {path.stem for path in folder.glob("*.py") if path.stem != "__init__"}
    return {name: _imported_modules(ast.parse((folder / f"{name}.py").read_text("utf-8")), modules)
            for name in modules}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports (its modules in order, the first repeated at the end), or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once fully explored

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for child in sorted(graph[node]):
            if state.get(child) == "open":
                return path[path.index(child):] + [child]
            if child not in state:
                found = visit(child, path + [child])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import(tmp_path):
    (tmp_path / "a.py").write_text("from kpod_lite.models.b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from kpod_lite.models import c\n")
    (tmp_path / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import kpod_lite.models.a\n")
    assert find_cycle(import_graph(tmp_path)) == ["a", "b", "c", "a"]
    (tmp_path / "c.py").write_text("import kpod_lite.models\n")  # the package itself is not a node
    assert find_cycle(import_graph(tmp_path)) is None


def test_the_models_modules_import_one_another_one_way():
    graph = import_graph()
    assert {"tiny", "pretraining", "standins", "cache"} <= set(graph)
    assert graph["tiny"] >= {"pretraining", "cache"}, "the parser sees tiny's imports"
    assert find_cycle(graph) is None, f"an import circle: {' -> '.join(find_cycle(graph))}"


def test_every_public_name_is_still_importable_from_the_package():
    from kpod_lite import models
    from kpod_lite.models import CACHE_ENV, cache_root, pretraining_corpus  # moved modules, same names

    assert all(hasattr(models, name) for name in models.__all__)
    assert CACHE_ENV == "KPOD_CACHE" and callable(cache_root) and callable(pretraining_corpus)
