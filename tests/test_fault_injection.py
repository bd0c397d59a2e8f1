"""Kill -9 at points in every stage, resume, and get the uninterrupted run's outputs byte for
byte. A sample of `benchmarks/fault_injection.py`'s points, one per stage group;
the benchmark runs them all."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "fault_injection", Path(__file__).resolve().parents[1] / "benchmarks" / "fault_injection.py")
fault_injection = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fault_injection)

SAMPLE = [point for point in fault_injection.POINTS
          if point[0].split()[0] in ("teach", "weigh", "schedule") or point[0].startswith("distill (kpod")
          or point[0] == "evaluate (plain-cot)"]


def test_the_sample_covers_every_kind_of_stage():
    assert {p[0].split()[0] for p in SAMPLE} == {"teach", "weigh", "schedule", "distill", "evaluate"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference") / "run"
    fault_injection.run_to_end(folder)
    return folder


@pytest.mark.parametrize("stage, trigger", SAMPLE, ids=[p[0] for p in SAMPLE])
def test_a_run_killed_in_a_stage_resumes_to_the_same_outputs(tmp_path, reference, stage, trigger):
    folder = tmp_path / "run"
    assert fault_injection.run_and_kill(folder, trigger), f"the run ended before {trigger} appeared"
    fault_injection.run_to_end(folder)
    assert fault_injection.differences(reference, folder) == []
