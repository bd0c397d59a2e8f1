"""Are the installed libraries new enough? One clear message instead of a traceback deep inside.

The lower bounds are the package's own requirements (`pyproject.toml`, read back from the
installed metadata), so there is one list. On Colab the install cell calls `check_versions`
after installing: Colab's preinstalled torch satisfies `torch>=2.1` and is never reinstalled,
but an older preinstalled transformers or peft would fail later with an error that names
neither (transformers before 4.56 has no `from_pretrained(dtype=)`).
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

__all__ = ["requirements", "lower_bound", "check_versions", "transformers_major", "IMPORT_NAMES"]


def transformers_major() -> int:
    """transformers' major version: the few names that moved between 4.x and 5 are chosen by it
    (one place for it, so that the oldest versions pyproject allows keep working)."""
    from transformers import __version__

    return Version(__version__).major


def requirements(package: str = "kpod-lite") -> list[Requirement]:
    """The package's own runtime requirements (no extras): from the checkout's `pyproject.toml`
    when kpod_lite runs from one (an editable install's metadata is as old as its last
    install), else from the installed metadata."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if package == "kpod-lite" and pyproject.is_file():
        try:
            import tomllib
        except ImportError:  # Python 3.10
            tomllib = None
        if tomllib is not None:
            return [Requirement(text) for text in tomllib.loads(pyproject.read_text("utf-8"))["project"]["dependencies"]]
    found = [Requirement(text) for text in metadata.requires(package) or []]
    return [r for r in found if r.marker is None or r.marker.evaluate({"extra": ""})]


def lower_bound(requirement: Requirement) -> Version | None:
    """The lowest version `requirement` allows by its own clauses (">=", "==", "~=", "==="),
    e.g. 7.7 for "ipywidgets>=7.7"; None when it names none. The oldest-versions run of
    benchmarks/dependency_bounds.py compares what it installed with these."""
    floors = [Version(spec.version) for spec in requirement.specifier
              if spec.operator in (">=", "==", "~=", "===") and "*" not in spec.version]
    return max(floors, default=None)


IMPORT_NAMES = {"scikit-learn": "sklearn"}  # distributions whose module is not named after them


def _loaded_version(name: str) -> str | None:
    """The version of the library's module already imported into this process, if any."""
    module = sys.modules.get(IMPORT_NAMES.get(name, name.replace("-", "_")))
    version = getattr(module, "__version__", None) if module is not None else None
    try:
        return str(Version(str(version))) if version is not None else None
    except InvalidVersion:  # a module whose __version__ is no version says nothing
        return None


def check_versions(package: str = "kpod-lite", installed=None, loaded=_loaded_version) -> dict[str, str]:
    """{library: installed version} for every requirement of `package`; raises RuntimeError
    naming each library that is missing or too old, and the command that fixes it. A library
    that pip upgraded after this process imported it (Colab: an install cell run a second
    time) is named too: only a restart loads the new one.

    `installed(name) -> version or None` replaces the lookup in the environment, and
    `loaded(name) -> version or None` the one in `sys.modules` (tests).
    """
    def lookup(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    installed = installed or lookup
    needed = requirements(package)
    versions, problems, stale = {}, [], []
    for requirement in needed:
        version = installed(requirement.name)
        if version is None:
            problems.append(f"{requirement.name} is not installed; kpod-lite needs {requirement}")
        elif not requirement.specifier.contains(Version(version), prereleases=True):
            problems.append(f"{requirement.name} {version} is installed; kpod-lite needs {requirement}")
        else:
            versions[requirement.name] = version
            running = loaded(requirement.name)
            if running is not None and Version(running) != Version(version):
                stale.append(f"{requirement.name} {version} is installed but {running} is the one imported")
    if stale and not problems:
        raise RuntimeError("; ".join(stale) + ". Restart the runtime (on Colab: Runtime > Restart session) "
                           "and run the notebook again from the top.")
    if problems:
        fixes = " ".join(f"'{r}'" for r in needed
                         if any(p.startswith(f"{r.name} ") for p in problems) and r.name != "torch")
        advice = (f"Run: pip install -U {fixes}, then restart the runtime (on Colab: Runtime > Restart session)."
                  if fixes else "")
        if any(p.startswith("torch ") for p in problems):
            advice += (" torch is too old: install a build for your machine from pytorch.org (on Colab, where "
                       "torch is preinstalled, choose a newer runtime instead of reinstalling it).")
        raise RuntimeError("; ".join(problems) + ". " + advice.strip())
    return versions
