"""The claims ledger: each claim of the paper a tiny run can test, beside its tiny verdict.

A claim of Table 2 is "KPOD beats the variant": Δ = KPOD − variant, in points of GSM8K accuracy
in the paper (one number per setting, no seeds), and in points of test accuracy here, paired over
seeds and questions with a two-level bootstrap interval (`kpod_lite.stats.paired_bootstrap`) and
Bonferroni over the seven rows of Table 2 the pre-registration names (docs/RESULTS.md, "Table 2
in full"). The verdict follows the pre-registered rule: "better" when the interval is above 0,
"worse" when below, "no difference" when it holds 0. A row whose variant has not run says so.

    python -m kpod_lite.ledger docs/results/table2        # the ledger as a markdown table
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from kpod_lite import stats

# Table 2, GSM8K accuracy (%), for the two students the paper ablates.
PAPER_TABLE2 = {
    "LLaMA-7B": {"kpod": 46.74, "w.o.-sig": 42.64, "w.o.-sig-dif": 44.01, "w.o.-prog": 43.25, "w.o.-div": 44.16,
                 "kpod-acl": 43.55, "kpod-spl": 42.94, "kpod-icl": 43.85},
    "FlanT5-XL": {"kpod": 25.19, "w.o.-sig": 22.46, "w.o.-sig-dif": 23.82, "w.o.-prog": 23.22, "w.o.-div": 23.98,
                  "kpod-acl": 23.52, "kpod-spl": 22.76, "kpod-icl": 22.91},
}
TABLE2_COMPARISONS = 7  # the Bonferroni family of the pre-registration: KPOD against each row


@dataclass(frozen=True)
class Claim:
    claim: str
    variant: str  # the method KPOD is compared with: Δ = KPOD − variant
    notebook: str
    test_set: str = "test"
    comparisons: int = TABLE2_COMPARISONS


CLAIMS = (
    Claim("KPOD beats CoT distillation without its parts (Table 1)", "plain-cot", "06, 07", comparisons=1),
    Claim("token weights in the loss help (w.o.-sig)", "w.o.-sig", "02, 07"),
    Claim("weighted step difficulty helps (w.o.-sig-dif)", "w.o.-sig-dif", "03, 07"),
    Claim("the progressive schedule helps (w.o.-prog)", "w.o.-prog", "04, 07"),
    Claim("the diversity term helps (w.o.-div)", "w.o.-div", "04, 07"),
    Claim("the in-rationale schedule beats Adaptive CL (KPOD-ACL)", "kpod-acl", "07"),
    Claim("... beats SPL (KPOD-SPL)", "kpod-spl", "07"),
    Claim("... beats in-sample CL (KPOD-ICL)", "kpod-icl", "07"),
    Claim("KPOD generalises out of distribution (Table 3): distractors", "plain-cot", "07", "ood-distractors", 1),
    Claim("... four-step chains", "plain-cot", "07", "ood-four-steps", 1),
)


def verdict(low: float, high: float) -> str:
    """The pre-registered reading of Δ = KPOD − variant's interval."""
    return "KPOD better" if low > 0 else "KPOD worse" if high < 0 else "no difference this run can see"


def paper_difference(variant: str) -> str:
    """KPOD − variant in Table 2, for both students ("" where the paper has no such row)."""
    if variant not in PAPER_TABLE2["LLaMA-7B"]:
        return ""
    return " / ".join(f"{rows['kpod'] - rows[variant]:+.2f}" for rows in PAPER_TABLE2.values())


def ledger_rows(table: dict) -> list[dict]:
    """One row per claim from a `stats.write_correctness` table: Δ, its interval and verdict."""
    rows = []
    for claim in CLAIMS:
        row = {"claim": claim.claim, "variant": claim.variant, "test_set": claim.test_set,
               "paper": paper_difference(claim.variant), "notebook": claim.notebook}
        ran = {claim.variant, "kpod"} <= set(table["correct"]) and all(
            claim.test_set in table["correct"][m] for m in (claim.variant, "kpod"))
        if not ran:
            rows.append({**row, "verdict": "not yet run"})
            continue
        result = stats.paired_bootstrap(stats.read_correctness(table, claim.variant, claim.test_set),
                                        stats.read_correctness(table, "kpod", claim.test_set),
                                        comparisons=claim.comparisons)
        low, high = result["interval_adjusted"] if claim.comparisons > 1 else result["interval"]
        rows.append({**row, "difference": result["difference"], "interval": [low, high],
                     "verdict": verdict(low, high)})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| the paper's claim | paper: KPOD − it (LLaMA-7B / FlanT5-XL) | tiny: KPOD − it [95% interval] | "
             "verdict | notebook |", "|---|---|---|---|---|"]
    for row in rows:
        tiny = (f"{row['difference']:+.1f} [{row['interval'][0]:+.1f}, {row['interval'][1]:+.1f}]"
                if "difference" in row else "")
        lines.append(f"| {row['claim']} | {row['paper']} | {tiny} | {row['verdict']} | {row['notebook']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kpod_lite.ledger", description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a results folder with correct.json (docs/results/table2)")
    args = parser.parse_args(argv)
    path = args.results / "correct.json"
    if not path.is_file():
        parser.error(f"{path}: no such file; write it with stats.write_correctness from the run folder")
    from kpod_lite.errors import report_errors

    def work() -> int:
        print(markdown(ledger_rows(json.loads(path.read_text()))), flush=True)
        return 0

    return report_errors("python -m kpod_lite.ledger", work)


if __name__ == "__main__":
    raise SystemExit(main())
