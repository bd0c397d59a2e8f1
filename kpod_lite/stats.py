"""Paired comparisons of two methods with bootstrap intervals: what a table of means cannot say.

Two methods evaluated on the same test questions, with the same distillation seeds, are paired
twice over: question q is asked of both, and seed s of one shares its rationales, weights and
schedule with seed s of the other (`kpod_lite.pipeline`). The quantity of interest is the
difference in accuracy, B minus A, averaged over seeds:

    d_q = mean_s [correct_B(s, q) - correct_A(s, q)],    Δ = mean_q d_q

The 95% interval resamples questions with replacement (the population the claim is about:
more questions like these) and, within each resample, seeds with replacement (the spread of
distillation), a two-level percentile bootstrap (Efron and Tibshirani, 1993, ch. 13). An
interval that excludes 0 supports a difference in that direction; one that includes 0 says the
experiment cannot tell the methods apart at this size, and its width says how large a
difference it could have missed.

Several comparisons from one experiment (an ablation table) each have a 5% chance of an
interval that excludes 0 by chance. `comparisons` K > 1 adds a Bonferroni interval at level
1 - 0.05 / K (`interval_adjusted`): a claim made on it holds for the K comparisons together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kpod_lite.data import DataFormatError, read_jsonl
from kpod_lite.errors import ConfigError
from kpod_lite.pipeline.results import student_dir


@dataclass(frozen=True)
class PairedComparison:
    """Accuracies of A and B and their difference B - A, in points (%), each with a 95% interval."""

    a: str
    b: str
    test_set: str
    seeds: int
    questions: int
    accuracy_a: float
    accuracy_b: float
    difference: float
    interval: tuple[float, float]
    interval_a: tuple[float, float]
    interval_b: tuple[float, float]
    per_seed_difference: tuple[float, ...]
    interval_adjusted: tuple[float, float] | None = None  # Bonferroni, over `comparisons` (module docstring)
    comparisons: int = 1

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in self.__dict__.items()}

    def sentence(self) -> str:
        low, high = self.interval
        if low > 0:
            verdict = f"{self.b} is better than {self.a}"
        elif high < 0:
            verdict = f"{self.b} is worse than {self.a}"
        else:
            verdict = f"no difference can be claimed; a true difference outside [{low:+.1f}, {high:+.1f}] is unlikely"
        adjusted = ""
        if self.interval_adjusted is not None:
            low, high = self.interval_adjusted
            adjusted = (f"; {100 - 5 / self.comparisons:.2f}% interval for {self.comparisons} comparisons "
                        f"[{low:+.1f}, {high:+.1f}]")
        return (f"{self.test_set}: {self.b} {self.accuracy_b:.1f}% vs {self.a} {self.accuracy_a:.1f}% "
                f"({self.seeds} seeds x {self.questions} questions); difference {self.difference:+.1f} points, "
                f"95% interval [{self.interval[0]:+.1f}, {self.interval[1]:+.1f}]: {verdict}{adjusted}")


def correctness(run_dir: Path | str, method: str, seeds: Sequence[int], test_set: str = "test",
                order: list[str] | None = None) -> np.ndarray:
    """(seeds, questions) array of 0/1: whether each distilled student got each question right,
    questions in `order` (default: the first seed's file), matched by id across seeds."""
    check_method(run_dir, method)
    rows = []
    for seed in seeds:
        path = student_dir(Path(run_dir), method, seed) / f"{test_set}.predictions.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no predictions for {method} seed {seed}; run the pipeline's "
                                    f"evaluate stage for it first (kpod-lite run --seeds {len(seeds)}), "
                                    f"or compare the seeds it has ({_seeds_of(run_dir, method)})")
        records = _prediction_records(path)
        order = order or list(records)
        if set(records) != set(order):
            raise DataFormatError(path, None, "id", "other questions than the first student's; compare students "
                                  "evaluated on one test set")
        rows.append([records[q] for q in order])
    return np.asarray(rows, dtype=float)


def _prediction_records(path: Path) -> dict[str, bool]:
    """{question id: correct} of one prediction file, each line checked (`evaluate.score` writes them)."""
    records = {}
    for line, record in read_jsonl(path):
        for field in ("id", "correct"):
            if field not in record:
                raise DataFormatError(path, line, field, "missing from a prediction record; evaluate the student "
                                      "again (kpod-lite run reuses everything else)")
        if not isinstance(record["correct"], (bool, int)) or record["correct"] not in (0, 1):
            raise DataFormatError(path, line, "correct", f"should be true or false, got {record['correct']!r}")
        records[str(record["id"])] = bool(record["correct"])
    if not records:
        raise DataFormatError(path, None, None, "holds no predictions; evaluate the student again")
    return records


def _seeds_of(run_dir: Path | str, method: str) -> str:
    found = sorted(int(p.name.removeprefix("seed-")) for p in (Path(run_dir) / "students" / method).glob("seed-*")
                   if p.name.removeprefix("seed-").isdigit())
    return "seeds " + ", ".join(map(str, found)) if found else "none"


def check_run_folder(run_dir: Path | str) -> Path:
    """A run folder `kpod-lite run` wrote, or a `ConfigError` saying what to give instead."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} {'is a file' if run_dir.exists() else 'does not exist'}: give "
                          f"the folder kpod-lite run wrote (--out, default runs/<preset>)")
    if not (run_dir / "students").is_dir():
        raise ConfigError(f"run folder {run_dir} holds no students yet: run kpod-lite run --out {run_dir} "
                          f"through its evaluate stage first")
    return run_dir


def check_method(run_dir: Path | str, method: str) -> None:
    """Refuse a method the run folder has no students of, naming the ones it has."""
    students = check_run_folder(run_dir) / "students"
    if not (students / method).is_dir():
        present = sorted(p.name for p in students.iterdir() if p.is_dir() and any(p.glob("seed-*")))
        raise ConfigError(f"run folder {run_dir} has no students of method {method!r}; it has "
                          f"{', '.join(present) or 'none'} (kpod-lite run --methods adds one)")


def _interval(samples: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    low, high = np.percentile(samples, [50 * alpha, 100 - 50 * alpha])
    return round(float(low), 2), round(float(high), 2)


def resampled_means(arrays: Sequence[np.ndarray], *, resamples: int = 10000, seed: int = 0) -> np.ndarray:
    """Each array's accuracy in points under `resamples` two-level bootstrap draws (module
    docstring), the same draws of seeds and questions for every array, so that any combination
    of them stays paired: shape (arrays, resamples). Inputs: (seeds, questions) 0/1 arrays."""
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"paired (seeds, questions) arrays needed, got {sorted(shapes)}")
    rng = np.random.default_rng(seed)
    n_seeds, n_questions = arrays[0].shape
    boot = np.empty((len(arrays), resamples))
    for start in range(0, resamples, 500):  # in chunks: 500 x seeds x questions values at a time
        count = min(500, resamples - start)
        seeds = rng.integers(0, n_seeds, size=(count, n_seeds))[:, :, None]
        questions = rng.integers(0, n_questions, size=(count, n_questions))[:, None, :]
        for i, correct in enumerate(arrays):
            boot[i, start:start + count] = correct[seeds, questions].mean(axis=(1, 2)) * 100
    return boot


def paired_bootstrap(correct_a: np.ndarray, correct_b: np.ndarray, *, resamples: int = 10000,
                     seed: int = 0, comparisons: int = 1) -> dict:
    """Δ = mean(B - A) in points with its two-level bootstrap 95% interval (module docstring), and
    each method's accuracy with its own interval; with `comparisons` K > 1 also Δ's Bonferroni
    interval at level 1 - 0.05 / K. Inputs: (seeds, questions) 0/1 arrays, paired."""
    boot_a, boot_b = resampled_means([correct_a, correct_b], resamples=resamples, seed=seed)
    result = {"accuracy_a": round(float(correct_a.mean() * 100), 2), "accuracy_b": round(float(correct_b.mean() * 100), 2),
              "difference": round(float((correct_b - correct_a).mean() * 100), 2),
              "interval": _interval(boot_b - boot_a), "interval_a": _interval(boot_a), "interval_b": _interval(boot_b),
              "per_seed_difference": tuple(round(float(x), 2) for x in (correct_b - correct_a).mean(axis=1) * 100)}
    if comparisons > 1:
        result.update(interval_adjusted=_interval(boot_b - boot_a, 0.05 / comparisons), comparisons=comparisons)
    return result


# The 2 x 2 of Eq. 15's weights (learned, uniform at their mean) x Eq. 14's schedule (on, off):
# (weights, schedule) -> method (kpod_lite.methods.CONTROLS).
WEIGHTS_BY_SCHEDULE = {("learned", "on"): "kpod", ("learned", "off"): "w.o.-prog",
                       ("uniform", "on"): "kpod-uniform", ("uniform", "off"): "w.o.-prog-uniform"}


def weights_by_schedule(correct: dict[str, np.ndarray], *, resamples: int = 10000, seed: int = 0) -> dict:
    """The effects of the 2 x 2 (`WEIGHTS_BY_SCHEDULE`), in points, each with its 95% interval
    from one set of paired bootstrap draws: the learned weights' effect with and without the
    schedule, the schedule's with learned and with uniform weights, and their interaction (the
    weights' effect with the schedule minus without it). `correct`: method -> (seeds, questions)."""
    names = [WEIGHTS_BY_SCHEDULE[key] for key in (("learned", "on"), ("learned", "off"), ("uniform", "on"),
                                                    ("uniform", "off"))]
    arrays = [correct[name] for name in names]
    boot = dict(zip(names, resampled_means(arrays, resamples=resamples, seed=seed)))
    point = {name: float(correct[name].mean() * 100) for name in names}
    contrasts = {
        "weights, schedule on (kpod - kpod-uniform)": {"kpod": 1, "kpod-uniform": -1},
        "weights, schedule off (w.o.-prog - w.o.-prog-uniform)": {"w.o.-prog": 1, "w.o.-prog-uniform": -1},
        "schedule, learned weights (kpod - w.o.-prog)": {"kpod": 1, "w.o.-prog": -1},
        "schedule, uniform weights (kpod-uniform - w.o.-prog-uniform)": {"kpod-uniform": 1, "w.o.-prog-uniform": -1},
        "interaction (weights with schedule - without)": {"kpod": 1, "kpod-uniform": -1, "w.o.-prog": -1,
                                                          "w.o.-prog-uniform": 1},
    }
    return {"accuracy": {name: round(value, 2) for name, value in point.items()},
            "effects": {label: {"difference": round(sum(c * point[m] for m, c in terms.items()), 2),
                                "interval": _interval(sum(c * boot[m] for m, c in terms.items()))}
                        for label, terms in contrasts.items()}}


def question_order(run_dir: Path | str, method: str, seed: int, test_set: str = "test") -> list[str] | None:
    """The question ids in one student's prediction file, in its order (None: no such file):
    the order every comparison and export pairs students by."""
    path = student_dir(Path(run_dir), method, seed) / f"{test_set}.predictions.jsonl"
    return [str(r["id"]) for _, r in read_jsonl(path)] if path.exists() else None


def compare(run_dir: Path | str, a: str, b: str, seeds: Sequence[int], test_set: str = "test",
            resamples: int = 10000, comparisons: int = 1) -> PairedComparison:
    """`paired_bootstrap` of methods `a` and `b` from a run folder's predictions."""
    # One question order for both methods: the pairing is by question id, never by line.
    order = question_order(run_dir, a, seeds[0], test_set)
    correct_a = correctness(run_dir, a, seeds, test_set, order)
    correct_b = correctness(run_dir, b, seeds, test_set, order)
    result = paired_bootstrap(correct_a, correct_b, resamples=resamples, comparisons=comparisons)
    return PairedComparison(a, b, test_set, len(seeds), correct_a.shape[1], **result)


def write_correctness(run_dir: Path | str, methods: Sequence[str], seeds: Sequence[int], out_path: Path | str,
                      test_sets: Sequence[str] = ("test",)) -> dict:
    """Every student's right and wrong answers, compactly, for a results folder that ships
    without the predictions (notebook 07 recomputes the comparisons from it):
    {"seeds", "questions": {set: [ids]}, "correct": {method: {set: ["0110...", one per seed]}}}."""
    from kpod_lite.data import write_atomically

    table: dict = {"seeds": list(seeds), "questions": {}, "correct": {}}
    for test_set in test_sets:
        order = table["questions"][test_set] = question_order(run_dir, methods[0], seeds[0], test_set)
        if order is None:
            correctness(run_dir, methods[0], seeds[:1], test_set)  # raises, naming the missing file
        for method in methods:
            rows = correctness(run_dir, method, seeds, test_set, order)
            table["correct"].setdefault(method, {})[test_set] = ["".join(str(int(x)) for x in row) for row in rows]
    write_atomically(Path(out_path), json.dumps(table) + "\n")
    return table


def read_correctness(table: dict, method: str, test_set: str = "test") -> np.ndarray:
    """The (seeds, questions) 0/1 array of `method` in a `write_correctness` table."""
    return np.asarray([[int(c) for c in row] for row in table["correct"][method][test_set]], dtype=float)


def run_seeds(run_dir: Path | str, count: int) -> list[int]:
    """The seeds `kpod-lite run --seeds count` distils: the run's own seed (config.json) and the next ones."""
    from kpod_lite.data.jsonl import read_json_object

    if count < 1:
        raise ConfigError(f"--seeds must be >= 1, got {count}")
    config = Path(run_dir) / "config.json"
    remedy = "restore it, or re-run the folder with kpod-lite run --force"
    first = read_json_object(config, "the run folder's settings", remedy, ("seed",))["seed"] if config.exists() else 0
    if isinstance(first, bool) or not isinstance(first, int):
        raise DataFormatError(config, None, "seed", f"should be a whole number, got {first!r}; {remedy}")
    return [first + k for k in range(count)]


def main(argv: Sequence[str] | None = None) -> int:
    """python -m kpod_lite.stats RUN_DIR A B --seeds N [--test-set NAME] [--comparisons K]: prints
    the sentence and JSON; RUN_DIR --seeds N --two-by-two: `weights_by_schedule`;
    RUN_DIR --seeds N --export FILE --methods M...: `write_correctness`."""
    import argparse

    from kpod_lite.arguments import at_least
    from kpod_lite.errors import report_errors
    from kpod_lite.outputs import claim, declared_outputs, output_file

    parser = argparse.ArgumentParser(prog="python -m kpod_lite.stats", description=main.__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("a", nargs="?", help="the baseline method, e.g. plain-cot")
    parser.add_argument("b", nargs="?", help="the method compared with it, e.g. kpod")
    parser.add_argument("--seeds", type=at_least(1), required=True,
                        help="the run's N distillation seeds: its seed and the next ones, as kpod-lite run --seeds N")
    parser.add_argument("--test-set", default="test")
    parser.add_argument("--comparisons", type=at_least(1), default=1,
                        help="how many comparisons the experiment makes: adds a Bonferroni interval (K > 1)")
    parser.add_argument("--export", type=output_file, default=None, help="write every student's answers here instead")
    parser.add_argument("--methods", nargs="+", default=None, help="with --export: the methods")
    parser.add_argument("--test-sets", nargs="+", default=["test"], help="with --export: the test sets")
    parser.add_argument("--two-by-two", action="store_true",
                        help="the effects of weights x schedule: " + ", ".join(WEIGHTS_BY_SCHEDULE.values()))
    args = parser.parse_args(argv)
    if args.export and not args.methods:
        parser.error("--export needs --methods")
    if not (args.export or args.two_by_two) and not (args.a and args.b):
        parser.error("name the two methods to compare, A and B (or --export, or --two-by-two)")

    def work() -> int:
        check_run_folder(args.run_dir)
        seeds = run_seeds(args.run_dir, args.seeds)
        if args.export:
            with claim(declared_outputs(parser, args)):
                write_correctness(args.run_dir, args.methods, seeds, args.export, args.test_sets)
            print(f"wrote {args.export}")
            return 0
        if args.two_by_two:
            methods = list(WEIGHTS_BY_SCHEDULE.values())
            order = question_order(args.run_dir, methods[0], seeds[0], args.test_set)
            correct = {m: correctness(args.run_dir, m, seeds, args.test_set, order) for m in methods}
            print(json.dumps({"test_set": args.test_set, "seeds": len(seeds), **weights_by_schedule(correct)},
                             indent=1))
            return 0
        result = compare(args.run_dir, args.a, args.b, seeds, args.test_set, comparisons=args.comparisons)
        print(result.sentence())
        print(json.dumps(result.to_dict(), indent=1))
        return 0

    return report_errors("python -m kpod_lite.stats", work)


if __name__ == "__main__":
    raise SystemExit(main())
