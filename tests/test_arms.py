"""The diagnostic arms of the tiny experiment (`kpod_lite.methods`), accuracy after
every epoch, and students distilled in worker processes (`kpod_lite.pipeline.workers`)."""

import json
import random

import pytest
import torch

from kpod_lite import data, pipeline, weighting
from kpod_lite.config import ConfigError, preset
from kpod_lite.methods import ARMS, METHODS, SAMPLED_PREFIXES
from kpod_lite.synthetic import KEYPOINT_LABELS


def _small(**changes):
    return preset("tiny").replace(train_size=12, validation_size=0, test_size=3, ood=(), epochs=2, weighting_epochs=1,
                                  weighting_predictor_warmup_steps=2, max_new_tokens=8, **changes)


def test_each_arm_reads_its_own_inputs_and_the_equal_arm_has_t_more_epochs():
    oracle, sampled, equal = (METHODS[name] for name in ARMS)
    assert (oracle.weights_file, oracle.difficulty_file, oracle.schedule_file) == (
        "weights.oracle.jsonl", "difficulty.oracle.jsonl", "schedule.kpod-oracle.json")
    assert (sampled.weights_file, sampled.difficulty_file) == ("weights.sampled.jsonl", "difficulty.sampled.jsonl")
    # kpod-equal reads KPOD's weights and difficulty, but needs a schedule built for more epochs.
    assert (equal.weights_file, equal.difficulty_file, equal.schedule_file) == (
        "weights.jsonl", "difficulty.jsonl", "schedule.kpod-equal.json")
    cfg = preset("tiny")
    assert equal.config_for(cfg).epochs == cfg.epochs + cfg.stage_T
    assert METHODS["kpod"].config_for(cfg).epochs == cfg.epochs and METHODS["kpod"].schedule_file == "schedule.json"


def test_oracle_weights_are_one_exactly_on_the_labelled_keypoints(tmp_path, llama):
    cfg = _small()
    pipeline.stage_questions(cfg, tmp_path)
    pipeline.stage_teach(cfg, tmp_path, tmp_path / "questions" / "train.jsonl")
    rationales = tmp_path / "rationales.jsonl"
    report = weighting.oracle_weight_file(rationales, tmp_path / "oracle.jsonl", llama)
    records = {r["id"]: r for _, r in data.read_jsonl(rationales)}
    weights = [w for _, w in data.read_jsonl(tmp_path / "oracle.jsonl")]
    assert report["rationales"] == len(weights) == len(records)
    ones = zeros = 0
    for record in weights:
        source = records[record["id"]]
        labels = weighting.token_classes(record["offsets"], source["spans"], source["rationale"].strip())
        for label, weight in zip(labels, record["weights"]):
            assert weight == (1.0 if label in KEYPOINT_LABELS else 0.0)
            ones, zeros = ones + (weight == 1.0), zeros + (weight == 0.0)
    assert ones and zeros, "the synthetic rationales hold keypoints and other tokens"
    auroc = weighting.keypoint_auroc(weights, list(records.values()))
    assert auroc["auroc_keypoint_vs_filler"] == 1.0


def test_oracle_weights_refuse_rationales_without_labels(tmp_path, llama):
    path = tmp_path / "r.jsonl"
    data.write_jsonl(path, [{"id": "q1", "question": "?", "answer": 3, "rationale": "1 + 2 = 3."}])
    with pytest.raises(data.DataFormatError, match=r"r\.jsonl:1: .*field 'spans'.*template teacher"):
        weighting.oracle_weight_file(path, tmp_path / "w.jsonl", llama)


def test_sampled_prefixes_are_drawn_uniformly_with_replacement():
    cfg = preset("tiny").replace(prefix_mode="sampled", weighting_sampled_prefixes=3)
    assert weighting.prefix_lengths([(0, 1), (1, 2)], "a. b.", "sampled") == []
    with pytest.raises(ConfigError, match="weighting_sampled_prefixes"):
        preset("tiny").replace(prefix_mode="sampled")

    # training_step draws the k; a stand-in loss records them instead of scoring.
    seen = []

    class Recorder:
        def __call__(self, ids):
            return torch.zeros(*ids.shape, 4)

        def loss(self, predictor, batch, rationales, prefixes):
            seen.extend(prefixes)
            return torch.zeros(len(batch))

        mask_id = torch.tensor(0)
        device = torch.device("cpu")

    class Weighter(torch.nn.Module):
        def forward(self, ids, attention):
            return torch.zeros(ids.shape, requires_grad=True)

    batch = [{"ids": list(range(5)), "ks": [2, 5]}] * 2000
    weighting.training_step(Weighter(), None, Recorder(), batch, cfg, torch.Generator().manual_seed(0),
                            random.Random(0))
    assert all(len(ks) == 3 for ks in seen), "exactly K prefixes each, the step ends not among them by rule"
    counts = [sum(ks.count(k) for ks in seen) for k in range(1, 6)]
    assert sum(counts) == 6000 and all(1000 < c < 1400 for c in counts), counts  # uniform over 1..n
    assert any(len(set(ks)) < len(ks) for ks in seen), "with replacement: a k may repeat"


def test_the_arms_run_end_to_end_with_accuracy_after_every_epoch(tmp_path):
    cfg = _small(epoch_eval_size=2)
    methods = ("kpod", *ARMS)
    pipeline.run(cfg, tmp_path, methods=methods, seeds=[0])
    for name in ("weights.oracle.jsonl", "weights.sampled.jsonl", "weights.sampled.summary.json",
                 "difficulty.oracle.jsonl", "difficulty.sampled.jsonl", "schedule.kpod-equal.json"):
        assert (tmp_path / name).exists(), name
    assert json.loads((tmp_path / "weights.sampled.summary.json").read_text())["keypoints"]["auroc_keypoint_vs_filler"]
    learned = [w["weights"] for _, w in data.read_jsonl(tmp_path / "weights.jsonl")]
    sampled = [w["weights"] for _, w in data.read_jsonl(tmp_path / "weights.sampled.jsonl")]
    assert learned != sampled, "mask learning with other prefixes gives other weights"
    equal = json.loads((pipeline.student_dir(tmp_path, "kpod-equal", 0) / "history.json").read_text())
    assert len(equal["history"]) == cfg.epochs + cfg.stage_T
    kpod = json.loads((pipeline.student_dir(tmp_path, "kpod", 0) / "history.json").read_text())
    whole = {name: [row["full_rationales"] == 1.0 for row in h["history"]].count(True)
             for name, h in (("kpod", kpod), ("equal", equal))}
    assert whole["equal"] == whole["kpod"] + cfg.stage_T, "T more epochs, all of them on whole rationales"
    for method in methods:
        folder = pipeline.student_dir(tmp_path, method, 0)
        history = json.loads((folder / "history.json").read_text())["history"]
        accuracy = json.loads((folder / "epoch_accuracy.json").read_text())
        assert [row["test_accuracy"] for row in history] == [accuracy[str(row["epoch"])] for row in history]
        assert all(0.0 <= a <= 1.0 for a in accuracy.values())
    # The last epoch's accuracy on the first 2 questions is the final evaluation's on them.
    folder = pipeline.student_dir(tmp_path, "kpod", 0)
    final = [r["correct"] for _, r in data.read_jsonl(folder / "test.predictions.jsonl")]
    questions = [r["id"] for _, r in data.read_jsonl(tmp_path / "questions" / "test.jsonl")][:2]
    by_id = {r["id"]: r["correct"] for _, r in data.read_jsonl(folder / "test.predictions.jsonl")}
    assert len(final) == 3
    assert json.loads((folder / "epoch_accuracy.json").read_text())[str(cfg.epochs)] == \
        sum(by_id[q] for q in questions) / 2


def test_students_trained_in_worker_processes_equal_those_trained_alone(tmp_path, monkeypatch):
    cfg = _small()
    methods, seeds = ("plain-cot", "kpod"), [0, 1]
    pipeline.run(cfg, tmp_path / "alone", methods=methods, seeds=seeds, stages=("schedule",))
    import shutil

    shutil.copytree(tmp_path / "alone", tmp_path / "workers")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a worker's thread count
    try:
        alone = pipeline.run(cfg, tmp_path / "alone", methods=methods, seeds=seeds)
    finally:
        torch.set_num_threads(threads)
    together = pipeline.run(cfg, tmp_path / "workers", methods=methods, seeds=seeds, workers=2)
    assert alone == together
    for method in methods:
        for seed in seeds:
            a, b = (pipeline.student_dir(tmp_path / run, method, seed) / "model" / "model.safetensors"
                    for run in ("alone", "workers"))
            assert a.read_bytes() == b.read_bytes(), (method, seed)
    for run in ("alone", "workers"):  # both record the students' stages, time and peak memory
        summary = json.loads((tmp_path / run / "results" / "summary.json").read_text())
        assert summary["seconds_by_stage"]["distill"] > 0 and summary["host_peak_memory_mb_after_stage"]["distill"] > 0
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        pipeline.run(cfg, tmp_path / "workers", methods=methods, seeds=seeds, workers=0)
