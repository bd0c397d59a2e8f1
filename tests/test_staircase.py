"""kpod_lite.viz.staircase_figure: Eq. 14's input and target steps per epoch (Algorithm 1)."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from kpod_lite import schedule, viz  # noqa: E402


def _schedule():
    # Three questions of 3, 2 and 4 steps; 6 epochs, so T = 3 (stages 0..2 trained, then whole rationales).
    return schedule.build_schedule({"a": [1.0, 2.0, 3.0], "b": [2.0, 1.0], "c": [1.0, 1.0, 1.0, 1.0]},
                                   {"a": 0, "b": 1, "c": 0}, epochs=6, c0_fraction=0.5, beta=1.0)


def test_each_column_gives_the_first_c_steps_as_input_then_every_step_is_target_after_T():
    sched = _schedule()
    for question, n in (("a", 3), ("b", 2), ("c", 4)):
        grid = viz.staircase_grid(sched, n, question, epochs=6)
        assert grid.shape == (n, 6)
        for e in range(1, 7):
            c = sched.stages[e - 1].c[question] if e <= sched.T else 0
            assert grid[:, e - 1].tolist() == [1.0] * c + [0.0] * (n - c), (question, e)
    # Input steps only ever turn into target steps: the staircase goes down, never up.
    grid = viz.staircase_grid(sched, 4, "c", epochs=6)
    assert (np.diff(grid.sum(axis=0)) <= 0).all() and grid[:, sched.T:].sum() == 0


def test_the_figure_draws_one_panel_per_question_and_marks_the_end_of_epoch_T():
    sched = _schedule()
    fig = viz.staircase_figure(sched, {"a": 3, "c": 4}, ["a", "c"])
    assert len(fig.axes) == 2
    for ax, (question, n) in zip(fig.axes, (("a", 3), ("c", 4))):
        (image,) = ax.images
        assert np.array_equal(image.get_array(), viz.staircase_grid(sched, n, question, epochs=6))
        assert any(line.get_linestyle() == ":" and line.get_xdata()[0] == sched.T + 0.5 for line in ax.lines)
    assert len(fig.axes[-1].get_xticks()) == 6  # epochs from params["epochs"]


def test_a_schedule_without_stages_gives_every_step_as_target():
    sched = schedule.build_schedule({"a": [1.0, 2.0]}, {"a": 0}, epochs=4, progressive=False)
    assert viz.staircase_grid(sched, 2, "a", epochs=4).sum() == 0
