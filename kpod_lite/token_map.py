"""Token heat maps: a rationale's tokens, each on a box as deep a red as its weight (Figure 2, §4.5).

The weights are the w_j of Eq. 3 (`kpod_lite.weighting`, the thread's ``weights.jsonl``): the
probability that mask learning keeps token j. The text is laid out in character cells of a
monospace font, wrapped at token boundaries, so each token's text sits inside its box whatever
the renderer (a cell is wider than a glyph).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

FONT_SIZE = 9  # points; a monospace glyph is 0.6 of that wide
CELL = FONT_SIZE * 0.6 / 0.85  # points per character cell: the glyph fills 85% of its cell
LEFT, RIGHT = 0.01, 0.88  # the text panel's edges, as fractions of the figure's width


def layout_tokens(text: str, offsets: Sequence, weights: Sequence[float], width: int) -> tuple[list, int]:
    """(piece, column, line, weight) per token with visible text, in lines of `width` character
    cells wrapped at token boundaries, and the number of lines. `offsets` are character spans
    into `text`; byte-level tokens of one character share a span, and the first one shows it."""
    placed, position, column, line = [], 0, 0, 0
    for (start, end), w in zip(offsets, weights):
        column += len(text[position:start])  # text between tokens, if any
        piece = text[max(start, position):end].replace("\n", " ")
        position = max(position, end)
        if not piece:
            continue
        if column + len(piece) > width and column:
            line, column, piece = line + 1, 0, piece.lstrip()
        lead = len(piece) - len(piece.lstrip())  # a leading space is a gap, not part of the box
        if piece.strip():
            placed.append((piece.strip(), column + lead, line, float(w)))
        column += len(piece)
    return placed, line + 1


def token_heatmap(rows: Sequence[tuple[str, str, Sequence, Sequence[float]]], width_inches: float = 12,
                  label: str = "w_j (Eq. 3): P(token kept)") -> Figure:
    """One panel of rationales, each `(title, text, offsets, weights)`: a title line, then its
    tokens on boxes coloured by weight on a 0-1 "Reds" scale (white text on the deepest)."""
    cmap = plt.get_cmap("Reds")
    width = int(width_inches * (RIGHT - LEFT) * 72 / CELL)  # as many cells as the panel holds
    layouts = [layout_tokens(text, offsets, weights, width) for _, text, offsets, weights in rows]
    height = sum(lines + 2 for _, lines in layouts)  # each rationale: a title line, its lines, a gap
    fig = plt.figure(figsize=(width_inches, max(height, 4) * 1.9 * FONT_SIZE / 72))
    ax = fig.add_axes((LEFT, 0, RIGHT - LEFT, 1))
    top = 0
    for (title, *_), (placed, lines) in zip(rows, layouts):
        ax.text(0, top + 0.5, title if len(title) <= width else title[:width - 3] + "...", fontsize=8, va="center")
        for piece, column, line, w in placed:
            y = top + 1 + line
            ax.add_patch(plt.Rectangle((column, y + 0.1), len(piece), 0.8, facecolor=cmap(w),
                                       edgecolor="white", linewidth=0.5))
            ax.text(column + len(piece) / 2, y + 0.5, piece, ha="center", va="center", family="monospace",
                    fontsize=FONT_SIZE, color="white" if w > 0.6 else "black")
        top += lines + 2
    ax.set_xlim(0, width)
    ax.set_ylim(max(height, 4), 0)
    ax.axis("off")
    fig.colorbar(plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1)),
                 cax=fig.add_axes((0.91, 0.1, 0.012, 0.8)), label=label)
    return fig
