"""kpod_lite.diagrams: the mask-learning diagram draws the modules of §3.3 and the equations on its arrows."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from kpod_lite import diagrams  # noqa: E402


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts if not isinstance(t, Annotation)]


def test_the_mask_learning_diagram_has_a_box_for_every_module_of_eq_2_to_7():
    fig = diagrams.mask_learning_figure()
    texts = _texts(fig)
    for title in ("rationale r", "Emb", "Att", "f_w, σ", "Gumbel-softmax", "masked rationale r[m]",
                  "transformer", "question x, answer y", "L_p", "L_m = Σ_j m_j", "L_k = L_p + α L_m"):
        assert title in texts, title
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]
    assert sorted(p.get_gid() for p in boxes) == sorted(diagrams.MASK_LEARNING_BOXES)
    # Emb is the one frozen box; Att, f_w and the transformer are what Eq. 7 trains.
    colours = {p.get_gid(): p.get_facecolor() for p in boxes}
    assert colours["emb"] != colours["att"] == colours["f_w"] == colours["transformer"]
    plt.close(fig)


def test_every_equation_of_mask_learning_labels_an_arrow_between_the_right_boxes():
    fig = diagrams.mask_learning_figure()
    texts = _texts(fig)
    for number in range(2, 8):
        assert any(f"Eq. {number}" in t for t in texts), number
    arrows = [a for a in fig.axes[0].texts if isinstance(a, Annotation)]
    assert len(arrows) == len(diagrams.MASK_LEARNING_ARROWS)
    ends = {(start, end): label for start, end, label in diagrams.MASK_LEARNING_ARROWS}
    assert "Eq. 3" in ends[("f_w", "gumbel")] and "Eq. 4" in ends[("gumbel", "masked")]
    assert ends[("transformer", "l_p")] == "Eq. 5" and "Eq. 6" in ends[("gumbel", "l_m")]
    assert "Eq. 7" in ends[("l_p", "l_k")] and "Eq. 7" in ends[("l_m", "l_k")]
    # Each arrow runs from its first box towards its second: its head is nearer the second box.
    for (start, end, _), arrow in zip(diagrams.MASK_LEARNING_ARROWS, arrows):
        head, tail = arrow.xy, arrow.xyann
        target = diagrams._centre(diagrams.MASK_LEARNING_BOXES[end])
        distance = lambda p: (p[0] - target[0]) ** 2 + (p[1] - target[1]) ** 2  # noqa: E731
        assert distance(head) < distance(tail), (start, end)
    plt.close(fig)
