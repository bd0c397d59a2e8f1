"""Pictures for the course: the pipeline, labelled rationales, rationale statistics.

Everything returns a matplotlib `Figure` or an HTML string, so a notebook decides how to show
it and the tests can check it without a screen. Later issues add the Figure-2 weight heat maps
(§4.5), D(t) curves (Eq. 10) and schedule plots here.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

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
