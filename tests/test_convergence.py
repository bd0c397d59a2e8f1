"""kpod_lite.convergence: the last-quarter gain the convergence rule reads, and the target tokens
a progressive student (Eq. 14) has written, with the per-epoch figure drawn from them."""

import doctest

import matplotlib
import pytest

from kpod_lite import convergence, viz

matplotlib.use("Agg")


def test_docstring_examples_hold():
    assert doctest.testmod(convergence).failed == 0


def test_last_quarter_gain_reads_the_rules_epochs_and_nothing_else():
    curve = {e: 0.5 for e in range(1, 61)}
    curve.update({58: 0.6, 59: 0.6, 60: 0.6})
    assert convergence.last_quarter_gain(curve, 60) == pytest.approx(10.0)
    curve.update({43: 0.4, 44: 0.4, 45: 0.4, 46: 0.0, 57: 0.0})  # epochs outside the two windows
    assert convergence.last_quarter_gain(curve, 60) == pytest.approx(20.0)
    del curve[44]
    with pytest.raises(ValueError, match="missing \\[44\\]"):
        convergence.last_quarter_gain(curve, 60)


def test_the_rule_calls_a_fall_as_unsettled_as_a_climb():
    flat = {e: 0.5 for e in range(1, 61)}
    climbing = {**flat, 58: 0.52, 59: 0.52, 60: 0.52}
    falling = {**flat, 58: 0.47, 59: 0.47, 60: 0.47}
    assert convergence.summary([flat, flat], 60)["converged"]
    read = convergence.summary([climbing, falling, falling], 60)
    assert read["last_quarter_gain_per_seed"] == pytest.approx([2.0, -3.0, -3.0])
    assert read["last_quarter_gain_mean"] == pytest.approx(-4 / 3, abs=0.01) and not read["converged"]
    assert read["mean_accuracy_by_epoch"][60] == pytest.approx(100 * (0.52 + 0.94) / 3, abs=0.01)


def test_how_far_reads_accuracy_by_the_rule_and_falls_back_to_the_loss():
    def run(accuracy, loss, epochs=8):
        return [{"epoch": e, "test_accuracy": accuracy(e), "loss": loss(e)} for e in range(1, epochs + 1)]

    measured = run(lambda e: 0.5 + (0.1 if e >= 6 else 0.0), lambda e: 1.0)
    unmeasured = run(lambda e: None, lambda e: 2.0 if e <= 6 else 1.0)
    text = convergence.how_far({"kpod": [measured], "plain-cot": [unmeasured, unmeasured]},
                               {"kpod": 8, "plain-cot": 8})
    # epochs 6-8 average 0.6 against 4-6's (0.5 + 0.5 + 0.6) / 3: +6.7 points
    assert "- kpod (N_e = 8): accuracy changed +6.7 points (+6.7): not converged by the rule" in text
    # the loss over epochs 6-8 sums to 4 against 6 over epochs 4-6: -33%
    assert ("- plain-cot (N_e = 8): per-epoch accuracy not measured (epoch_eval_size = 0); "
            "its training loss changed -33% (-33%, -33%)") in text


def test_how_far_names_every_method_it_cannot_read_instead_of_dropping_it():
    def run(epochs, accuracy=None, loss=1.0):
        return [{"epoch": e, "test_accuracy": accuracy, "loss": loss} for e in range(1, epochs + 1)]

    text = convergence.how_far({
        "kpod-equal": [run(12, accuracy=0.5)],  # trains T more epochs than the rest
        "kpod": [run(8, accuracy=0.5), run(5, accuracy=0.5)],  # one seed cut short
        "w.o.-sig": [run(8, accuracy=0.5), run(8)],  # accuracy measured for one seed of two
        "w.o.-div": [run(8, loss=0.0)],  # nothing to divide by
        "w.o.-prog": [run(4)],
        "plain-cot": [run(3)],
    }, {"kpod-equal": 12, "kpod": 8, "w.o.-sig": 8, "w.o.-div": 8, "w.o.-prog": 8, "plain-cot": 4})
    assert "- kpod-equal (N_e = 12): accuracy changed +0.0 points (+0.0): converged" in text
    assert "- kpod (N_e = 8, 1 of 2 seeds finished): accuracy changed +0.0" in text
    assert "- w.o.-sig (N_e = 8): per-epoch accuracy measured for only 1 of 2 seeds; its training loss changed +0%" in text
    assert "- w.o.-div (N_e = 8): per-epoch accuracy not measured (epoch_eval_size = 0), and the loss" in text
    assert "- w.o.-prog: no student has finished its 8 epochs" in text
    assert "- plain-cot: 4 epochs, too few for the rule's last quarter (8 or more)" in text
    assert convergence.summary([], 8)["converged"] is None


def test_the_epoch_curve_draws_a_seed_band_and_can_be_read_against_tokens_written():
    def run(scale, tokens):
        return [{"epoch": e, "test_accuracy": scale * e / 10, "target_tokens": tokens} for e in range(1, 6)]

    histories = {"kpod": [run(1.0, 50), run(0.8, 50)], "plain-cot": [run(0.9, 100)]}
    by_epoch = viz.epoch_accuracy_figure(histories, split="validation")
    ax = by_epoch.axes[0]
    assert ax.get_ylabel() == "validation accuracy (%) after the epoch"
    assert len(ax.collections) == 1  # one band: only kpod has several seeds
    by_tokens = viz.epoch_accuracy_figure(histories, split="validation", against="target tokens")
    kpod_line = by_tokens.axes[0].lines[0]
    assert list(kpod_line.get_xdata()) == pytest.approx([50e-6 * e for e in range(1, 6)])
    assert list(kpod_line.get_ydata()) == pytest.approx([90 * e / 10 for e in range(1, 6)])


def test_table_2s_eleven_methods_get_eleven_colours_and_only_kpod_is_kpods_red():
    methods = ["plain-cot", "kpod", "w.o.-prog", "kpod-uniform", "w.o.-prog-uniform", "w.o.-sig",
               "w.o.-sig-dif", "w.o.-div", "kpod-acl", "kpod-spl", "kpod-icl"]
    histories = {m: [[{"epoch": 1, "test_accuracy": 0.5}, {"epoch": 2, "test_accuracy": 0.6}]] for m in methods}
    lines = viz.epoch_accuracy_figure(histories, split="validation").axes[0].lines
    colours = {line.get_label().split(" ")[0]: matplotlib.colors.to_hex(line.get_color()) for line in lines}
    assert len(set(colours.values())) == len(methods)
    assert [m for m, c in colours.items() if c == viz.KPOD_COLOUR] == ["kpod"]


def test_the_command_reports_each_students_gain_and_draws_both_figures(tmp_path, capsys):
    import json

    from kpod_lite.pipeline.results import student_dir

    (tmp_path / "config.json").write_text(json.dumps({"seed": 3, "epochs": 8, "epoch_eval_split": "validation"}))
    for seed, slope in ((3, 0.01), (4, 0.02)):
        rows = [{"epoch": e, "test_accuracy": slope * e, "target_tokens": 10} for e in range(1, 9)]
        folder = student_dir(tmp_path, "kpod", seed)
        folder.mkdir(parents=True)
        (folder / "history.json").write_text(json.dumps({"history": rows}))
    assert convergence.main([str(tmp_path), "--seeds", "2", "--methods", "kpod", "--figures",
                             str(tmp_path / "figures"), "--histories", str(tmp_path / "histories.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    # epochs 6-8 against 4-6: their means are two epochs apart, 1 or 2 points an epoch
    assert report["methods"]["kpod"]["last_quarter_gain_per_seed"] == pytest.approx([2.0, 4.0])
    assert report["split"] == "validation"
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["accuracy_by_epoch.png",
                                                                      "accuracy_by_tokens.png"]
    kept = json.loads((tmp_path / "histories.json").read_text())
    assert [len(history) for history in kept["kpod"]] == [8, 8]
    assert kept["kpod"][1][-1]["test_accuracy"] == pytest.approx(0.16)
