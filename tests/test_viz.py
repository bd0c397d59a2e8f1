"""kpod_lite.viz: what the figures draw (their look is checked by eye in the notebooks)."""

import matplotlib

matplotlib.use("Agg")
from matplotlib.container import ErrorbarContainer  # noqa: E402

from kpod_lite import viz  # noqa: E402


def _row(name, mean, std, seeds):
    return {"row": name, "method": name, "test_mean": mean, "test_std": std, "seeds": seeds}


def test_accuracy_bars_show_a_spread_only_where_there_are_seeds_to_spread():
    fig = viz.accuracy_figure([_row("plain-cot", 30.0, 2.0, 5), _row("kpod", 28.0, 0.0, 1)])
    (bars,) = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert len(bars.lines[2][0].get_segments()) == 1  # one error bar: the five-seed row's
    assert "one seed: no error bar" in fig.axes[0].get_xlabel()
    fig = viz.accuracy_figure([_row("kpod", 28.0, 0.0, 1)])
    assert not [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    fig = viz.accuracy_figure([_row("plain-cot", 30.0, 2.0, 5)])
    assert "no error bar" not in fig.axes[0].get_xlabel()
