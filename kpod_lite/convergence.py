"""Is a student converged? The measures a run's per-epoch curves are read with (App. A trains
"to convergence"; docs/RESULTS.md fixes the rule before each run).

- `last_quarter_gain`: the accuracy gained over the last quarter of N_e epochs, as the mean of
  the last three epochs minus the mean of the three ending at epoch 3 N_e / 4 (for N_e = 60:
  epochs 58-60 against 43-45). A change under one point either way is "converged": the rule
  docs/RESULTS.md pre-registered names a gain; a student still falling is not settled either.
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
            "last_quarter_gain_mean": mean, "converged": None if mean is None else abs(mean) < 1,
            "mean_accuracy_by_epoch": {e: round(100 * sum(a[e] for a in accuracy) / len(accuracy), 2)
                                       for e in range(1, epochs + 1)} if accuracy else {}}


def how_far(histories: Mapping[str, Sequence[Sequence[Mapping]]], epochs: Mapping[str, int]) -> str:
    """Markdown, one line per method: how far its students (`histories`: {method: [one history per
    seed]}, the rows of `history.json`) are from convergence after the method's `epochs[method]`
    epochs (kpod-equal trains T more than the rest). A progressive student's loss windows may
    include its last progressive epochs, whose targets are shorter: the loss line is a sign of
    movement, the accuracy line the rule."""
    lines = ["How far from convergence (the rule's last quarter: the mean of the last three epochs "
             "against the three ending at 3 N_e / 4):", ""]
    for method, runs in histories.items():
        n_e = epochs[method]
        if n_e < 8:
            lines.append(f"- {method}: {n_e} epochs, too few for the rule's last quarter (8 or more)")
            continue
        finished = [run for run in runs if len(run) == n_e]
        if not finished:
            lines.append(f"- {method}: no student has finished its {n_e} epochs")
            continue
        quarter_end = round(0.75 * n_e)
        windows = (*range(quarter_end - 2, quarter_end + 1), *range(n_e - 2, n_e + 1))
        head = f"- {method} (N_e = {n_e}" + (f", {len(finished)} of {len(runs)} seeds finished" if len(finished) < len(runs) else "") + ")"
        accuracy = [{row["epoch"]: row["test_accuracy"] for row in run if row.get("test_accuracy") is not None}
                    for run in finished]
        if all(len(a) == n_e for a in accuracy):
            read = summary(accuracy, n_e)
            seeds = ", ".join(f"{g:+.1f}" for g in read["last_quarter_gain_per_seed"])
            verdict = "converged" if read["converged"] else "not converged"
            lines.append(f"{head}: accuracy changed {read['last_quarter_gain_mean']:+.1f} points ({seeds}): "
                         f"{verdict} by the rule (converged: a change under 1 point either way)")
            continue
        measured = sum(len(a) == n_e for a in accuracy)
        why = ("per-epoch accuracy not measured (epoch_eval_size = 0)" if not measured else
               f"per-epoch accuracy measured for only {measured} of {len(finished)} seeds")
        losses = [{row["epoch"]: row.get("loss") for row in run} for run in finished]
        if any(not loss[e] for loss in losses for e in windows):  # none logged, or a zero to divide by
            lines.append(f"{head}: {why}, and the loss of some epoch was not recorded")
            continue
        changes = [100 * (sum(loss[e] for e in windows[3:]) / sum(loss[e] for e in windows[:3]) - 1)
                   for loss in losses]
        lines.append(f"{head}: {why}; its training loss changed {sum(changes) / len(changes):+.0f}% "
                     f"({', '.join(f'{c:+.0f}%' for c in changes)})")
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

    from kpod_lite.config import KPODConfig
    from kpod_lite.errors import report_errors
    from kpod_lite.methods import method_named
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
        config = KPODConfig(**json.loads((args.run_dir / "config.json").read_text("utf-8")))
        found = curves(args.run_dir, args.methods, run_seeds(args.run_dir, args.seeds))
        report = {"epochs": config.epochs, "split": config.epoch_eval_split, "methods": {}}
        for method, runs in found.items():
            epochs = method_named(method).config_for(config).epochs  # kpod-equal trains T more
            report["methods"][method] = {"epochs": epochs,
                                         **summary([a for a in runs["accuracy"] if len(a) == epochs], epochs)}
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
                figure = viz.epoch_accuracy_figure(histories, split=config.epoch_eval_split, against=against)
                figure.savefig(args.figures / name, dpi=110, bbox_inches="tight")
                plt.close(figure)
        return 0

    return report_errors("python -m kpod_lite.convergence", work)


if __name__ == "__main__":
    raise SystemExit(main())
