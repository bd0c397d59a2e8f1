"""Data sets of distinct questions, the shipped splits, and ``python -m kpod_lite.synthetic``."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from kpod_lite.arguments import at_least
from kpod_lite.data.jsonl import write_atomically
from kpod_lite.errors import ConfigError, report_errors
from kpod_lite.outputs import claim, declared_outputs, output_folder
from kpod_lite.synthetic.problem import SyntheticConfig, SyntheticProblem
from kpod_lite.synthetic.questions import generate_problem


def generate_dataset(n: int, seed: int = 0, config: SyntheticConfig = SyntheticConfig(),
                     prefix: str = "syn") -> list[SyntheticProblem]:
    """``n`` problems with distinct questions, ids ``{prefix}-00000``, ..., all drawn from ``seed``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    problems: list[SyntheticProblem] = []
    seen: set[str] = set()
    attempts = 0
    while len(problems) < n:
        attempts += 1
        if attempts > 100 * n + 1000:
            raise ValueError(f"only {len(problems)} distinct questions in {attempts} draws; widen {config}")
        problem = generate_problem(rng, config, f"{prefix}-{len(problems):05d}")
        if problem.question not in seen:  # duplicates would leak between train and test
            seen.add(problem.question)
            problems.append(problem)
    return problems


DEFAULT_SIZES = {"train": 400, "validation": 100, "test": 100}


def write_splits(out_dir, sizes: dict = DEFAULT_SIZES, seed: int = 0,
                 config: SyntheticConfig = SyntheticConfig()) -> dict[str, Path]:
    """Write ``{split}.jsonl`` for each split; returns the paths.

    All splits are cut, in the order of ``sizes``, from one data set of distinct questions,
    so no question appears in two splits, and ids are unique across them.
    """
    for split, size in sizes.items():
        # A negative size would slice problems from the end: splits that overlap or come out empty.
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigError(f"the {split} split needs a whole number of problems >= 0, got {size!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = generate_dataset(sum(sizes.values()), seed, config)
    paths, start = {}, 0
    for split, size in sizes.items():
        path = out_dir / f"{split}.jsonl"
        lines = [json.dumps(problem.to_record(), ensure_ascii=False) + "\n"
                 for problem in problems[start:start + size]]
        write_atomically(path, "".join(lines))  # a killed run never leaves half a split
        paths[split], start = path, start + size
    return paths


def main(argv=None) -> int:
    from kpod_lite import synthetic  # the package imports this module, so its docstring is read late

    parser = argparse.ArgumentParser(prog="python -m kpod_lite.synthetic",
                                     description=synthetic.__doc__.split("\n")[0])
    parser.add_argument("--out", type=output_folder, default=Path("data_samples/synthetic"),
                        help="folder for the .jsonl splits")
    parser.add_argument("--seed", type=int, default=0)
    for split, size in DEFAULT_SIZES.items():
        parser.add_argument(f"--{split}", type=at_least(0), default=size, help=f"problems in {split}.jsonl")
    defaults = SyntheticConfig()
    parser.add_argument("--min-steps", type=int, default=defaults.min_steps)
    parser.add_argument("--max-steps", type=int, default=defaults.max_steps)
    parser.add_argument("--max-operand", type=int, default=defaults.max_operand)
    parser.add_argument("--max-factor", type=int, default=defaults.max_factor)
    parser.add_argument("--ops", default="".join(defaults.ops), help='allowed operations, e.g. "+-"')
    parser.add_argument("--filler-rate", type=float, default=defaults.filler_rate)
    parser.add_argument("--distractor-rate", type=float, default=defaults.distractor_rate)
    args = parser.parse_args(argv)
    return report_errors(parser.prog, lambda: _write(parser, args))


def _write(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    config = SyntheticConfig(min_steps=args.min_steps, max_steps=args.max_steps,
                             max_operand=args.max_operand, max_factor=args.max_factor,
                             ops=tuple(args.ops), filler_rate=args.filler_rate,
                             distractor_rate=args.distractor_rate)
    sizes = {split: getattr(args, split) for split in DEFAULT_SIZES}
    with claim(declared_outputs(parser, args)):
        for split, path in write_splits(args.out, sizes, args.seed, config).items():
            print(f"{split}: {sizes[split]} problems -> {path}")
    return 0
