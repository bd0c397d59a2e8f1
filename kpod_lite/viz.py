"""Pictures for the course: the pipeline, labelled rationales, rationale statistics, results.

Everything returns a matplotlib `Figure` or an HTML string, so a notebook decides how to show
it and the tests can check it without a screen. The results figures read the rows of
`kpod_lite.pipeline.results_table` and the per-epoch histories that `kpod_lite.distill` writes.
"""

from __future__ import annotations

import html
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# One colour per synthetic label (kpod_lite.synthetic.LABELS): keypoints warm, filler grey.
LABEL_COLOURS = {
    "number": "#d62728",
    "result": "#ff7f0e",
    "operator": "#9467bd",
    "equals": "#9467bd",
    "quantity": "#2ca02c",
    "filler": "#7f7f7f",
    "plain": None,
}

KPOD_COLOUR = "#d62728"  # KPOD's bars and lines, in every figure that compares methods
# Every other method's line: matplotlib's ten without KPOD's red, then black, so that Table 2's
# eleven methods get eleven colours and none is mistaken for KPOD.
OTHER_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf", "#000000"]

PIPELINE_BOXES = (
    ("questions", "loaders,\nsynthetic"),
    ("teacher", "zero-shot CoT\n§3.1"),
    ("token weights", "mask learning\nEq. 2-7"),
    ("step difficulty", "weighted loss\nEq. 8"),
    ("schedule", "D(t), FTGP\nEq. 9-13"),
    ("distill", "progressive,\nweighted Eq. 15"),
    ("evaluate", "answer\nextraction §4"),
)


def pipeline_figure(done: Iterable[str] = ()) -> Figure:
    """The KPOD pipeline (App. B, Algorithm 1) as boxes and arrows; `done` boxes are filled."""
    done = set(done)
    fig, ax = plt.subplots(figsize=(12, 2.2))
    for i, (name, detail) in enumerate(PIPELINE_BOXES):
        x = i * 1.7
        ax.add_patch(plt.Rectangle((x, 0), 1.35, 1, facecolor="#cfe3f7" if name in done else "white",
                                   edgecolor="#1f4e79", linewidth=1.5))
        ax.text(x + 0.675, 0.68, name, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x + 0.675, 0.3, detail, ha="center", va="center", fontsize=8)
        if i:
            ax.annotate("", xy=(x, 0.5), xytext=(x - 0.35, 0.5), arrowprops={"arrowstyle": "->"})
    ax.set_xlim(-0.1, len(PIPELINE_BOXES) * 1.7)
    ax.set_ylim(-0.1, 1.1)
    ax.axis("off")
    fig.tight_layout()
    return fig


def labelled_html(text: str, spans: Sequence) -> str:
    """A rationale as HTML, each labelled span coloured (spans: `(start, end, label)` or `Span`)."""
    parts = []
    for span in spans:
        start, end, label = (span.start, span.end, span.label) if hasattr(span, "label") else span
        piece = html.escape(text[start:end])
        colour = LABEL_COLOURS.get(label)
        parts.append(piece if colour is None else
                     f'<span style="color:{colour};font-weight:bold" title="{label}">{piece}</span>')
    legend = " ".join(f'<span style="color:{c};font-weight:bold">{name}</span>'
                      for name, c in LABEL_COLOURS.items() if c)
    return f'<div style="font-family:monospace;line-height:1.6">{"".join(parts)}</div><div>{legend}</div>'


def steps_histogram(step_counts: Iterable[int], title: str = "steps per rationale") -> Figure:
    """A bar chart of how many reasoning steps (§3.4 "." split) the rationales have."""
    counts = Counter(step_counts)
    fig, ax = plt.subplots(figsize=(5, 3))
    xs = sorted(counts)
    ax.bar(xs, [counts[x] for x in xs], color="#1f77b4")
    ax.set_xlabel("steps (split on '.')")
    ax.set_ylabel("rationales")
    ax.set_xticks(xs)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def accuracy_figure(rows: Sequence[dict], test_set: str = "test") -> Figure:
    """Accuracy (%) per table row on one test set, with the spread over seeds as error bars.
    A row of one seed has no spread to show, so it gets no bar rather than one of zero width."""
    rows = [row for row in rows if f"{test_set}_mean" in row]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    ys = range(len(rows))
    ax.barh(ys, [row[f"{test_set}_mean"] for row in rows],
            color=["#7f7f7f" if row["method"] in ("teacher", "before") else
                   KPOD_COLOUR if row["method"] == "kpod" else "#1f77b4" for row in rows])
    spread = [(y, row) for y, row in zip(ys, rows) if row["seeds"] > 1]
    if spread:
        ax.errorbar([row[f"{test_set}_mean"] for _, row in spread], [y for y, _ in spread],
                    xerr=[row[f"{test_set}_std"] for _, row in spread], fmt="none", ecolor="black", capsize=3)
    ax.set_yticks(list(ys), [f"{row['row']} (n={row['seeds']})" for row in rows])
    ax.invert_yaxis()
    ax.set_xlabel(f"{test_set} accuracy (%), mean ± std over seeds" +
                  ("" if len(spread) == len(rows) else " (one seed: no error bar)"))
    fig.tight_layout()
    return fig


def loss_figure(histories: dict[str, list[list[dict]]]) -> Figure:
    """Mean training loss per epoch for each method (Eq. 15; each line is the mean over seeds).

    Losses of different methods are not on one scale (token weights shrink Eq. 15, and a stage
    with input steps has shorter targets), so read each curve for its own shape.
    """
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for method, runs in histories.items():
        runs = [[row["loss"] for row in run if row["loss"] is not None] for run in runs]
        runs = [run for run in runs if run]
        if not runs:
            continue
        epochs = min(len(run) for run in runs)
        ax.plot(range(1, epochs + 1), [sum(run[e] for run in runs) / len(runs) for e in range(epochs)],
                marker="o", markersize=3, label=method)
    return _per_epoch(fig, ax, "training loss")


def curriculum_figure(histories: dict[str, list[list[dict]]]) -> Figure:
    """Mean number of input steps c_i(t) per epoch (Eq. 11): how much of each rationale is given.

    Methods with the same curriculum (KPOD and w.o.-sig share a schedule; plain CoT and
    w.o.-prog give none) are one line with all their names, so no line hides another.
    """
    curves: dict[tuple, list[str]] = {}
    for method, runs in histories.items():
        if runs and runs[0]:
            curve = tuple((row["epoch"], row["mean_input_steps"]) for row in runs[0])
            curves.setdefault(curve, []).append(method)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for curve, methods in curves.items():
        ax.plot([e for e, _ in curve], [c for _, c in curve], marker="o", markersize=3, label=", ".join(methods))
    return _per_epoch(fig, ax, "mean input steps c_i(t)")


def epoch_accuracy_figure(histories: dict[str, list[list[dict]]], split: str = "test",
                          against: str = "epoch") -> Figure:
    """Accuracy (%) on `split` after every epoch for each method that measured it
    (`epoch_eval_size`, `epoch_eval_split`): the mean over seeds, and with several seeds their
    range as a band. `against` "epoch", or "target tokens": the target tokens each student had
    been trained to write by then (`convergence.target_tokens_seen`), so that a progressive
    method's fewer written tokens in its first T epochs do not pass for slower learning."""
    from kpod_lite.convergence import target_tokens_seen

    fig, ax = plt.subplots(figsize=(7, 4))
    styles = ["-", "--", ":", "-."]
    others = itertools.cycle(OTHER_COLOURS)  # past eleven methods colours repeat; the line styles still differ
    for index, (method, runs) in enumerate(histories.items()):
        runs = [run for run in runs if run and None not in [row.get("test_accuracy") for row in run]]
        if not runs:
            continue
        epochs = min(len(run) for run in runs)
        curves = [[100 * row["test_accuracy"] for row in run[:epochs]] for run in runs]
        mean = [sum(c[e] for c in curves) / len(curves) for e in range(epochs)]
        if against == "epoch":
            x = list(range(1, epochs + 1))
        else:
            seen = [target_tokens_seen(run[:epochs]) for run in runs]
            x = [sum(s[e] for s in seen) / len(seen) / 1e6 for e in range(epochs)]
        line, = ax.plot(x, mean, linestyle=styles[index % len(styles)], marker="o", markersize=2,
                        color=KPOD_COLOUR if method == "kpod" else next(others), label=f"{method} (n={len(runs)})")
        if len(curves) > 1:
            ax.fill_between(x, [min(c[e] for c in curves) for e in range(epochs)],
                            [max(c[e] for c in curves) for e in range(epochs)], color=line.get_color(), alpha=0.15)
    ax.set_ylim(0, None)
    if against == "epoch":
        return _per_epoch(fig, ax, f"{split} accuracy (%) after the epoch")
    ax.set_xlabel("target tokens the student has been trained to write (millions)")
    ax.set_ylabel(f"{split} accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _per_epoch(fig: Figure, ax, ylabel: str) -> Figure:
    """The axes of a per-epoch plot: whole epochs (one stage each, App. B), a legend. Epochs
    count from 1 as the histories do; the paper's stage t counts from 0."""
    ax.set_xlabel("epoch (from 1; epoch e trains stage t = e − 1)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


INPUT_COLOUR, TARGET_COLOUR = "#c7c7c7", KPOD_COLOUR  # given to the student / what it learns to write


def staircase_grid(schedule, n_steps: int, question, epochs: int) -> "np.ndarray":
    """One question's staircase: rows are its steps 1..n_i, columns the epochs 1..`epochs`;
    1 where the step is input at that epoch (the first c_i(t) steps, Eq. 14), 0 where it is
    target. Epoch e trains stage t = e - 1 while e <= T and the whole rationale afterwards
    (Algorithm 1), as `Schedule.input_steps` says."""
    import numpy as np

    grid = np.zeros((n_steps, epochs))
    for e in range(1, epochs + 1):
        c = min(int(schedule.input_steps(e - 1)[question]), n_steps)
        grid[:c, e - 1] = 1.0
    return grid


def staircase_figure(schedule, n_steps: dict, questions: Sequence, epochs: int | None = None,
                     names: dict | None = None) -> Figure:
    """Eq. 14's staircase for a few questions: at each epoch, which of each question's steps are
    input (the first c_i(t), given with the question) and which are target (the last
    n_i - c_i(t), which the student learns to write). `n_steps`: question -> n_i; `epochs`:
    N_e (default: the schedule's `params["epochs"]`). A dotted line ends epoch T: after it,
    every step is target (Algorithm 1, "post-epoch T"). `names`: optional titles per question."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    epochs = int(schedule.params.get("epochs", 2 * schedule.T)) if epochs is None else int(epochs)
    fig, axes = plt.subplots(len(questions), 1, figsize=(min(1.2 + 0.55 * epochs, 14), 0.6 + 0.5 * sum(
        n_steps[q] for q in questions)), squeeze=False, sharex=True,
        gridspec_kw={"height_ratios": [n_steps[q] for q in questions]})
    colours = ListedColormap([TARGET_COLOUR, INPUT_COLOUR])
    for ax, question in zip(axes[:, 0], questions):
        grid = staircase_grid(schedule, n_steps[question], question, epochs)
        ax.imshow(grid, cmap=colours, vmin=0, vmax=1, aspect="auto",
                  extent=(0.5, epochs + 0.5, n_steps[question] + 0.5, 0.5))
        for x in range(1, epochs):  # cell borders, so single steps can be counted
            ax.axvline(x + 0.5, color="white", linewidth=1)
        for y in range(1, n_steps[question]):
            ax.axhline(y + 0.5, color="white", linewidth=1)
        if schedule.progressive and schedule.T < epochs:
            ax.axvline(schedule.T + 0.5, color="black", linestyle=":", linewidth=1.5)
        ax.set_yticks(range(1, n_steps[question] + 1), [f"step {j}" for j in range(1, n_steps[question] + 1)],
                      fontsize=8)
        ax.set_ylabel((names or {}).get(question, str(question)), rotation=0, ha="right", va="center", fontsize=9)
    axes[-1, 0].set_xticks(range(1, epochs + 1))
    axes[-1, 0].set_xlabel(f"epoch e (from 1; epochs 1..{schedule.T} train stages t = 0..{schedule.T - 1}, "
                           f"then the whole rationale)")
    axes[0, 0].legend(handles=[Patch(color=INPUT_COLOUR, label="input: given with the question"),
                               Patch(color=TARGET_COLOUR, label="target: the student writes it (Eq. 14)")],
                      loc="lower left", bbox_to_anchor=(0, 1.02), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
