"""The claims ledger (`kpod_lite.ledger`): Table 2's differences, the pre-registered verdicts, and
rows for variants that have not run."""
import json

import numpy as np
import pytest

from kpod_lite import ledger, stats


def table(accuracies: dict[str, float], seeds: int = 5, questions: int = 400) -> dict:
    rng = np.random.default_rng(0)
    correct = {}
    for method, p in accuracies.items():
        rows = (rng.random((seeds, questions)) < p).astype(int)
        correct[method] = {"test": ["".join(map(str, row)) for row in rows]}
    return {"seeds": list(range(seeds)), "questions": {"test": [f"q{i}" for i in range(questions)]},
            "correct": correct}


def test_the_paper_differences_are_table_2s():
    assert ledger.paper_difference("w.o.-sig") == "+4.10 / +2.73"
    assert ledger.paper_difference("plain-cot") == ""


def test_verdicts_follow_the_rule_and_table_2_rows_use_bonferroni():
    rows = {row["variant"]: row for row in ledger.ledger_rows(table({"kpod": 0.6, "w.o.-sig": 0.3, "plain-cot": 0.6}))
            if row["test_set"] == "test"}
    assert rows["w.o.-sig"]["verdict"] == "KPOD better"
    assert rows["plain-cot"]["verdict"] == "no difference this run can see"
    assert rows["w.o.-prog"]["verdict"] == "not yet run" and "difference" not in rows["w.o.-prog"]
    # Table 2's row carries the Bonferroni interval over 7, wider than the 95% one.
    t = table({"kpod": 0.6, "w.o.-sig": 0.3})
    plain = stats.paired_bootstrap(stats.read_correctness(t, "w.o.-sig"), stats.read_correctness(t, "kpod"))
    low, high = rows["w.o.-sig"]["interval"]
    assert high - low > plain["interval"][1] - plain["interval"][0]
    assert ledger.verdict(-3.0, -1.0) == "KPOD worse"


def test_the_command_prints_the_markdown_table_or_names_the_missing_file(tmp_path, capsys):
    (tmp_path / "correct.json").write_text(json.dumps(table({"kpod": 0.5, "plain-cot": 0.5})))
    assert ledger.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n| ") == len(ledger.CLAIMS) and "not yet run" in out
    with pytest.raises(SystemExit):
        ledger.main([str(tmp_path / "missing")])
    assert "correct.json: no such file" in capsys.readouterr().err
