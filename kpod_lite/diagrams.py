"""Diagrams of KPOD's modules, drawn by code: boxes, and arrows labelled with the paper's equations.

`mask_learning_figure` is the rationale token weighting module of §3.3 (Eq. 2-7): the rationale
goes through the student's embedding table and one self-attention layer (Eq. 2), a two-layer
MLP with a sigmoid gives each token its weight w_j (Eq. 3), Gumbel-softmax draws a mask m_j from
it (Eq. 4), the masked rationale's prefixes and the question go into a transformer that must
predict the answer (Eq. 5), and L_k = L_p + α L_m (Eq. 7) adds the mask-ratio loss (Eq. 6).
Each function returns a matplotlib `Figure`; the boxes and arrows are module-level tuples, so a
test can check that the figure draws what they say.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

BOX_WIDTH, BOX_HEIGHT = 2.0, 0.95  # data units
COLUMN, ROW = 2.95, 1.6  # the grid: wide gaps, so a label fits above a horizontal arrow

# name: (column, row, title, detail, role). Row 0 is the top. Roles pick the colour.
MASK_LEARNING_BOXES = {
    "rationale": (0, 0, "rationale r", "the teacher's tokens r_j", "data"),
    "emb": (1, 0, "Emb", "the student's embedding\ntable (frozen)", "frozen"),
    "att": (2, 0, "Att", "one self-attention layer,\nno position codes", "trained"),
    "f_w": (3, 0, "f_w, σ", "two-layer MLP,\nthen a sigmoid", "trained"),
    "gumbel": (4, 0, "Gumbel-softmax", "mask m_j ∈ (0, 1)\nat temperature τ", "sample"),
    "question": (1, 1, "question x, answer y", "the student's prompt,\nthe gold answer", "data"),
    "transformer": (2, 1, "transformer", "reads x, r[m]_<k and\n\"the answer is\"", "trained"),
    "masked": (3, 1, "masked rationale r[m]", "m_j E(r_j) + (1 − m_j) e_mask", "sample"),
    "l_p": (2, 2, "L_p", "answer NLL over\nthe prefixes k", "loss"),
    "l_k": (3, 2, "L_k = L_p + α L_m", "one Adam step trains\nAtt, f_w, transformer", "loss"),
    "l_m": (4, 2, "L_m = Σ_j m_j", "the kept share,\npulls every m_j to 0", "loss"),
}

# (from, to, label): the label names what travels and the equation that makes it.
MASK_LEARNING_ARROWS = (
    ("rationale", "emb", "r_j"),
    ("emb", "att", "Emb(r)"),
    ("att", "f_w", "e_j  Eq. 2"),
    ("f_w", "gumbel", "w_j  Eq. 3"),
    ("gumbel", "masked", "m_j  Eq. 4"),
    ("masked", "transformer", "r[m]_<k"),
    ("question", "transformer", "x"),
    ("question", "l_p", "y"),
    ("transformer", "l_p", "Eq. 5"),
    ("gumbel", "l_m", "m_j  Eq. 6"),
    ("l_p", "l_k", "Eq. 7"),
    ("l_m", "l_k", "α ·  Eq. 7"),
)

ROLE_COLOURS = {"data": "white", "frozen": "#e0e0e0", "trained": "#cfe3f7", "sample": "#fde2c8", "loss": "#f7d0d0"}


def _centre(box: tuple) -> tuple[float, float]:
    column, row = box[0], box[1]
    return column * COLUMN + BOX_WIDTH / 2, -row * ROW


def _edge(box: tuple, towards: tuple[float, float]) -> tuple[float, float]:
    """Where the line from the box's centre towards a point leaves the box."""
    (x, y), (tx, ty) = _centre(box), towards
    dx, dy = tx - x, ty - y
    scale = min(BOX_WIDTH / 2 / abs(dx) if dx else float("inf"), BOX_HEIGHT / 2 / abs(dy) if dy else float("inf"))
    return x + dx * scale, y + dy * scale


def mask_learning_figure() -> Figure:
    """The mask-learning module of §3.3 (Eq. 2-7) as boxes and arrows, the equations on the arrows.

    Blue boxes are trained by Eq. 7 (θ^w: Att, f_w and the transformer), grey is frozen (Emb),
    orange is sampled (the mask), red are the losses."""
    fig, ax = plt.subplots(figsize=(13, 4.4))
    for name, box in MASK_LEARNING_BOXES.items():
        _, _, title, detail, role = box
        x, y = _centre(box)
        ax.add_patch(FancyBboxPatch((x - BOX_WIDTH / 2, y - BOX_HEIGHT / 2), BOX_WIDTH, BOX_HEIGHT,
                                    boxstyle="round,pad=0.02", facecolor=ROLE_COLOURS[role],
                                    edgecolor="#1f4e79", linewidth=1.3, gid=name))
        ax.text(x, y + 0.2, title, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x, y - 0.2, detail, ha="center", va="center", fontsize=7.5)
    for start, end, label in MASK_LEARNING_ARROWS:
        a, b = MASK_LEARNING_BOXES[start], MASK_LEARNING_BOXES[end]
        tail, head = _edge(a, _centre(b)), _edge(b, _centre(a))
        ax.annotate("", xy=head, xytext=tail, arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.2})
        level = abs(tail[1] - head[1]) < 1e-9  # a horizontal arrow's label sits above it, not on it
        ax.text((tail[0] + head[0]) / 2, (tail[1] + head[1]) / 2 + (0.18 if level else 0), label,
                ha="center", va="center", fontsize=8,
                color="#8b0000" if "Eq." in label else "black",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"})
    ax.text(0, -2 * ROW, "blue: trained by Eq. 7 (θ^w), grey: frozen,\norange: sampled, red: losses.\n"
            "L_p reaches f_w only through\nthe mixed embeddings of r[m].", ha="left", va="center", fontsize=8,
            style="italic")
    ax.set_xlim(-0.1, 4 * COLUMN + BOX_WIDTH + 0.1)
    ax.set_ylim(-2 * ROW - BOX_HEIGHT / 2 - 0.1, BOX_HEIGHT / 2 + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("Rationale token weighting by mask learning (§3.3, Eq. 2-7)", fontsize=11)
    fig.tight_layout()
    return fig
