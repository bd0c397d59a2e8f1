"""Is a student converged? The measures a run's per-epoch curves are read with (App. A trains
"to convergence"; docs/RESULTS.md fixes the rule before each run).

- `last_quarter_gain`: the accuracy gained over the last quarter of N_e epochs, as the mean of
  the last three epochs minus the mean of the three ending at epoch 3 N_e / 4 (for N_e = 60:
  epochs 58-60 against 43-45). A change under one point either way is "converged" by the rule.
- `summary`: one method's students read together: each seed's gain, their mean, the verdict of
  the rule, and the mean curve.
- `how_far`: the lines a run's results.md ends with: each method's reading by the rule, or,
  where no per-epoch accuracy was measured (the tiny preset's quick demo), the change of its
  training loss over the same last quarter.
- `target_tokens_seen`: the target tokens a student has been trained to write by the end of
  each epoch. A progressive student (Eq. 14) writes fewer in its first T epochs, since the given
  steps are input; its curve against these, rather than against epochs, asks whether it learns
  less per token written or only writes fewer tokens.

>>> last_quarter_gain({e: e / 100 for e in range(1, 41)}, 40)  # 38-40 against 28-30, in points
10.0
>>> target_tokens_seen([{"target_tokens": 5}, {"target_tokens": 7}])
[5, 12]

`python -m kpod_lite.convergence RUN_DIR --seeds N --methods M...` prints, for each method, every
seed's last-quarter gain and the mean curve, and draws the curves against epochs and against
tokens written (`viz.epoch_accuracy_figure`) into `--figures`; `--histories FILE` keeps the
finished students' histories for a results folder that ships without the students.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def last_quarter_gain(accuracy: Mapping[int, float], epochs: int) -> float:
    """Points gained over the last quarter (module docstring); `accuracy`: epoch -> share in [0, 1]."""
    quarter_end = round(0.75 * epochs)
    missing = [e for e in (*range(quarter_end - 2, quarter_end + 1), *range(epochs - 2, epochs + 1))
               if e not in accuracy]
    if epochs < 8 or missing:
        raise ValueError(f"the last-quarter gain needs epochs {quarter_end - 2}-{quarter_end} and "
                         f"{epochs - 2}-{epochs} of {epochs} (at least 8), missing {missing}")
    late = sum(accuracy[e] for e in range(epochs - 2, epochs + 1)) / 3
    early = sum(accuracy[e] for e in range(quarter_end - 2, quarter_end + 1)) / 3
    return round(100 * (late - early), 2)


def summary(accuracy: Sequence[Mapping[int, float]], epochs: int) -> dict:
    """One method's finished students (`accuracy`: one {epoch: share} per seed, each of `epochs`
    epochs) read by the rule: a mean last-quarter change under one point either way is converged
    (a student that falls back is no more settled than one still climbing).

    >>> summary([{e: e / 100 for e in range(1, 9)}], 8)["converged"]  # 6-8 against 4-6
    False
    """
    gains = [last_quarter_gain(a, epochs) for a in accuracy]
    mean = round(sum(gains) / len(gains), 2) if gains else None
    return {"students": len(accuracy), "last_quarter_gain_per_seed": gains,
            "last_quarter_gain_mean": mean, "converged": mean is not None and abs(mean) < 1,
            "mean_accuracy_by_epoch": {e: round(100 * sum(a[e] for a in accuracy) / len(accuracy), 2)
                                       for e in range(1, epochs + 1)} if accuracy else {}}


def how_far(histories: Mapping[str, Sequence[Sequence[Mapping]]], epochs: int) -> str:
    """Markdown, one line per method: how far its students (`histories`: {method: [one history per
    seed]}, the rows of `history.json`) are from convergence after `epochs` epochs."""
    if epochs < 8:
        return f"Trained {epochs} epochs: too few for the convergence rule's last quarter (8 or more).\n"
    quarter_end = round(0.75 * epochs)
    windows = f"epochs {epochs - 2}-{epochs} against {quarter_end - 2}-{quarter_end}"
    lines = [f"How far from convergence after N_e = {epochs} epochs (the last quarter: {windows}):", ""]
    for method, runs in histories.items():
        runs = [run for run in runs if len(run) == epochs]
        if not runs:
            continue
        accuracy = [{row["epoch"]: row["test_accuracy"] for row in run if row.get("test_accuracy") is not None}
                    for run in runs]
        if all(len(a) == epochs for a in accuracy):
            read = summary(accuracy, epochs)
            seeds = ", ".join(f"{g:+.1f}" for g in read["last_quarter_gain_per_seed"])
            verdict = "converged" if read["converged"] else "not converged"
            lines.append(f"- {method}: accuracy changed {read['last_quarter_gain_mean']:+.1f} points ({seeds}): "
                         f"{verdict} by the rule (converged: a change under 1 point either way)")
            continue
        changes = []
        for run in runs:
            loss = {row["epoch"]: row["loss"] for row in run}
            if any(loss[e] is None for e in (*range(quarter_end - 2, quarter_end + 1), *range(epochs - 2, epochs + 1))):
                break  # a history without losses (none logged) says nothing here
            early = sum(loss[e] for e in range(quarter_end - 2, quarter_end + 1))
            late = sum(loss[e] for e in range(epochs - 2, epochs + 1))
            changes.append(100 * (late / early - 1))
        if len(changes) < len(runs):
            lines.append(f"- {method}: neither per-epoch accuracy nor every epoch's loss was recorded")
            continue
        lines.append(f"- {method}: per-epoch accuracy not measured (epoch_eval_size = 0); its training loss "
                     f"changed {sum(changes) / len(changes):+.0f}% ({', '.join(f'{c:+.0f}%' for c in changes)})")
    return "\n".join(lines) + "\n"


def target_tokens_seen(history: Sequence[Mapping]) -> list[int]:
    """Cumulative target tokens after each epoch, from a distillation history's rows."""
    seen, total = [], 0
    for row in history:
        total += int(row["target_tokens"])
        seen.append(total)
    return seen


def curves(run_dir, methods: Sequence[str], seeds: Sequence[int]) -> dict:
    """{method: {"histories": [...], "accuracy": [{epoch: share}, one per seed]}} of the students
    that finished (`history.json`); the per-epoch accuracy is what `epoch_eval_split` measured."""
    import json
    from pathlib import Path

    from kpod_lite.pipeline.results import student_dir

    found = {}
    for method in methods:
        paths = [student_dir(Path(run_dir), method, seed) / "history.json" for seed in seeds]
        histories = [json.loads(p.read_text("utf-8"))["history"] for p in paths if p.is_file()]
        found[method] = {"histories": histories,
                         "accuracy": [{row["epoch"]: row["test_accuracy"] for row in h
                                       if row.get("test_accuracy") is not None} for h in histories]}
    return found


def main(argv=None) -> int:
    import argparse
    import json
    from pathlib import Path

    from kpod_lite.errors import report_errors
    from kpod_lite.stats import run_seeds

    parser = argparse.ArgumentParser(prog="python -m kpod_lite.convergence", description=main.__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--seeds", type=int, required=True, help="the run's N seeds, as kpod-lite run --seeds N")
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--figures", type=Path, default=None, help="a folder for the two figures")
    parser.add_argument("--histories", type=Path, default=None,
                        help="also write the finished students' histories here, {method: [one per seed]}, "
                             "the shape of results/histories.json (a results folder that ships without students)")
    args = parser.parse_args(argv)

    def work() -> int:
        config = json.loads((args.run_dir / "config.json").read_text("utf-8"))
        epochs, split = config["epochs"], config.get("epoch_eval_split", "test")
        found = curves(args.run_dir, args.methods, run_seeds(args.run_dir, args.seeds))
        report = {"epochs": epochs, "split": split, "methods": {}}
        for method, runs in found.items():
            report["methods"][method] = summary([a for a in runs["accuracy"] if len(a) == epochs], epochs)
        print(json.dumps(report, indent=1))
        if args.histories:
            from kpod_lite.data import write_atomically

            write_atomically(args.histories, json.dumps({m: r["histories"] for m, r in found.items()}) + "\n")
        if args.figures:
            from matplotlib import pyplot as plt

            from kpod_lite import viz

            args.figures.mkdir(parents=True, exist_ok=True)
            histories = {m: r["histories"] for m, r in found.items()}
            for against, name in (("epoch", "accuracy_by_epoch.png"), ("target tokens", "accuracy_by_tokens.png")):
                figure = viz.epoch_accuracy_figure(histories, split=split, against=against)
                figure.savefig(args.figures / name, dpi=110, bbox_inches="tight")
                plt.close(figure)
        return 0

    return report_errors("python -m kpod_lite.convergence", work)


if __name__ == "__main__":
    raise SystemExit(main())
