"""kpod_lite.token_map: the token heat map's layout and boxes (Figure 2 style, weights of Eq. 3)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kpod_lite import token_map  # noqa: E402

TEXT = "We add: 7 + 9 = 16 apples."
OFFSETS = [(0, 2), (2, 6), (6, 7), (7, 9), (9, 11), (11, 13), (13, 15), (15, 17), (17, 18), (18, 25), (25, 26)]
WEIGHTS = [0.0, 0.1, 0.0, 1.0, 0.2, 1.0, 0.9, 1.0, 1.0, 0.05, 0.0]


def test_layout_keeps_every_visible_token_in_order_and_wraps_at_token_boundaries():
    placed, lines = token_map.layout_tokens(TEXT, OFFSETS, WEIGHTS, width=80)
    assert lines == 1
    assert [p[0] for p in placed] == ["We", "add", ":", "7", "+", "9", "=", "1", "6", "apples", "."]
    # on one line a column is the character offset
    assert all(TEXT[column:column + len(piece)] == piece for piece, column, _, _ in placed)
    placed, lines = token_map.layout_tokens(TEXT, OFFSETS, WEIGHTS, width=10)
    assert lines > 1 and all(column + len(piece) <= 10 for piece, column, _, _ in placed)
    assert [p[0] for p in placed][:3] == ["We", "add", ":"]
    assert [w for *_, w in placed] == [w for w, (s, e) in zip(WEIGHTS, OFFSETS) if TEXT[s:e].strip()]


def test_heatmap_draws_one_box_per_visible_token_deeper_for_a_larger_weight():
    fig = token_map.token_heatmap([("example", TEXT, OFFSETS, WEIGHTS)])
    ax = fig.axes[0]
    boxes = ax.patches
    assert len(boxes) == 11
    red = [box.get_facecolor() for box in boxes]
    by_piece = dict(zip([t.get_text() for t in ax.texts[1:]], red))
    assert sum(by_piece["7"][:3]) < sum(by_piece["+"][:3]) < sum(by_piece["We"][:3])  # darker = heavier
    assert ax.texts[0].get_text() == "example"
    plt.close(fig)
