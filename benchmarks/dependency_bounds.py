"""Run every notebook under nbval in a clean virtual environment with the oldest versions
`pyproject.toml` allows, or the newest (will the course run on what Colab has?).

    .venv/bin/python benchmarks/dependency_bounds.py --bound lowest --venv /tmp/kpod-lowest
    .venv/bin/python benchmarks/dependency_bounds.py --bound highest --venv /tmp/kpod-highest

The environment is made with uv (`pip install uv`), whose `--resolution lowest-direct` picks
the lowest version of every direct requirement that the others allow. torch is held at the
build given by `--torch` (default: constraints.txt's CPU build, the one this kind of machine
has on disk; older torch wheels on the package index are CUDA builds of several GB), so torch's
own lower bound is not what is tested. Prints one JSON object: the versions installed, nbval's
result and, for the oldest versions, the requirements installed above their lower bound (a bound
that another library's own requirement lifts is not what was tested: torch, held as above, is
always one), and exits with nbval's exit code (`make test-bounds` runs both bounds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ["torch", "transformers", "tokenizers", "accelerate", "peft", "safetensors", "numpy", "scikit-learn",
             "matplotlib", "ipywidgets", "tqdm", "filelock", "packaging", "nbval", "jupytext", "pytest", "ipykernel",
             "sentencepiece", "protobuf"]


def above_lower_bound(installed: dict[str, str]) -> dict[str, str]:
    """{library: "installed > bound"} for the package's requirements installed above their lower bound."""
    from packaging.version import Version

    from kpod_lite.versions import lower_bound, requirements

    bounds = {r.name: lower_bound(r) for r in requirements()}
    return {name: f"{installed[name]} > {bound}" for name, bound in bounds.items()
            if bound is not None and name in installed and Version(installed[name]) > bound}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bound", choices=["lowest", "highest"], required=True)
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--torch", default=None, help="a torch requirement to hold (default: constraints.txt's)")
    parser.add_argument("--skip-install", action="store_true", help="reuse --venv as it is")
    args = parser.parse_args()
    python = args.venv / "bin" / "python"
    started = time.perf_counter()
    if not args.skip_install:
        subprocess.run([sys.executable, "-m", "uv", "venv", "--python", sys.executable, str(args.venv)], check=True)
        constraints = ROOT / "constraints.txt"
        command = [sys.executable, "-m", "uv", "pip", "install", "--python", str(python), "-c", str(constraints),
                   "-e", f"{ROOT}[dev]"]
        if args.bound == "lowest":
            command[5:5] = ["--resolution", "lowest-direct"]
        if args.torch:
            command += [args.torch]
        # The CPU build on disk, named by its file: uv would otherwise take the index's CUDA build.
        local = [w for links in os.environ.get("PIP_FIND_LINKS", "").split()
                 for w in sorted(Path(links).glob("torch-*+cpu-*.whl"))]
        if local and not args.torch:
            command += [str(local[-1])]
        subprocess.run(command, check=True)
    installed = json.loads(subprocess.run([str(python), "-c", "import json, importlib.metadata as m; print(json.dumps("
                                           f"{{n: m.version(n) for n in {LIBRARIES!r}}}))"], check=True,
                                          capture_output=True, text=True).stdout)
    # ipykernel 6's debugger warns about frozen modules into every kernel's stderr unless told not to.
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    test = subprocess.run([str(python), "-m", "pytest", "notebooks", "--nbval-lax", "-rf", "--nbval-current-env",
                           "-q", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, env=env)
    lines = test.stdout.strip().splitlines()
    lifted = {"above_lower_bound": above_lower_bound(installed)} if args.bound == "lowest" else {}
    print(json.dumps({"bound": args.bound, "versions": installed, **lifted, "nbval_exit_code": test.returncode,
                      "nbval_summary": lines[-1] if lines else test.stderr[-500:],
                      "failed": [line.removeprefix("FAILED ") for line in lines if line.startswith("FAILED ")],
                      "seconds": round(time.perf_counter() - started, 1)}, indent=1))
    sys.exit(test.returncode)


if __name__ == "__main__":
    main()
