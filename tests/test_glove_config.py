"""§3.4's GloVe clusters from the config (`glove_file`) in the pipeline's schedule stage, and
FlanT5-XL's Eq. 5 predictor (§3.3: FlanT5-Large)."""

import json

import numpy as np
import pytest

from kpod_lite import data
from kpod_lite.config import PRESETS, ConfigError, preset
from kpod_lite.pipeline import made, stage_schedule, summarise
from kpod_lite.schedule import from_config

# 4-d vectors: the fruit words point one way and the vehicle words another; "tom", "buys",
# "ann" and "sells" are left out, so only the fruit/vehicle word decides a question's vector.
GLOVE = {"apples": [1.0, 0.0, 0.0, 0.0], "pears": [0.0, 0.0, 1.0, 0.0],
         "cars": [0.9, 0.1, 0.0, 0.0], "trucks": [0.0, 0.0, 0.9, 0.1]}
# TF-IDF groups these by their shared words (a with b, c with d); GloVe by meaning (a with c, b with d).
QUESTIONS = {"a": "Tom buys apples.", "b": "Tom buys pears.", "c": "Ann sells cars.", "d": "Ann sells trucks."}


def _glove_file(tmp_path):
    path = tmp_path / "glove.test.4d.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in GLOVE.items()), encoding="utf-8")
    return path


def _run_folder(tmp_path):
    """A run folder as the schedule stage finds it: rationales and step difficulties (Eq. 8)."""
    run = tmp_path / "run"
    run.mkdir()
    data.write_jsonl(run / "rationales.jsonl", [{"id": i, "question": q, "rationale": "x. y."}
                                                for i, q in QUESTIONS.items()])
    data.write_jsonl(run / "difficulty.jsonl", [{"id": i, "steps": ["x.", "y."], "difficulty": [1.0, 2.0]}
                                                for i in QUESTIONS])
    return run


def _capture_clusters(monkeypatch):
    seen = {}
    real = from_config.cluster_questions

    def capture(embeddings, **knobs):
        seen["X"], seen["labels"] = np.asarray(embeddings), real(embeddings, **knobs)
        return seen["labels"]

    monkeypatch.setattr(from_config, "cluster_questions", capture)
    return seen


def test_the_schedule_stage_clusters_on_the_glove_file_of_the_config(tmp_path, monkeypatch):
    glove, run = _glove_file(tmp_path), _run_folder(tmp_path)
    seen = _capture_clusters(monkeypatch)
    cfg = preset("tiny", glove_file=str(glove), n_clusters=2, epochs=4)
    stage_schedule(cfg, run, methods=("kpod",))
    meta = json.loads((run / "schedule.json").read_text())["meta"]
    assert meta["embeddings"] == "glove:glove.test.4d.txt, 4d"
    assert meta["questions_without_glove_words"] == 0
    assert summarise(run)["schedule_clusters_from"] == "glove:glove.test.4d.txt, 4d"
    # The K-means input is each question's mean GloVe vector (§3.4), not TF-IDF.
    assert np.allclose(seen["X"], [GLOVE["apples"], GLOVE["pears"], GLOVE["cars"], GLOVE["trucks"]])
    a, b, c, d = seen["labels"]
    assert a == c and b == d and a != b


def test_without_a_glove_file_the_schedule_stage_uses_tfidf(tmp_path, monkeypatch):
    run = _run_folder(tmp_path)
    seen = _capture_clusters(monkeypatch)
    stage_schedule(preset("tiny", n_clusters=2, epochs=4), run, methods=("kpod",))
    assert json.loads((run / "schedule.json").read_text())["meta"]["embeddings"] == "tfidf"
    assert summarise(run)["schedule_clusters_from"] == "tfidf"
    a, b, c, d = seen["labels"]
    assert a == b and c == d and a != c


def test_a_missing_glove_file_is_refused_naming_the_setting_before_any_schedule(tmp_path):
    run = _run_folder(tmp_path)
    missing = tmp_path / "glove.6B.300d.txt"
    with pytest.raises(ConfigError) as error:
        stage_schedule(preset("tiny", glove_file=str(missing), epochs=4), run, methods=("kpod", "w.o.-div"))
    message = str(error.value)
    assert "glove_file" in message and str(missing) in message and "does not exist" in message
    assert "nlp.stanford.edu" in message and "glove_file=null" in message  # where from, and back to TF-IDF
    assert not list(run.glob("schedule*.json"))


def test_a_file_that_is_not_glove_is_refused(tmp_path):
    cfg = preset("tiny")
    not_glove = tmp_path / "vectors.json"
    not_glove.write_text('{"apples": [1, 0]}\n')
    with pytest.raises(ConfigError, match="glove_file.*does not start like a GloVe text file"):
        from_config.check_glove_file(cfg.replace(glove_file=str(not_glove)))
    header = tmp_path / "word2vec.txt"
    header.write_text("4 2\napples 1 0\n")  # word2vec's header line: GloVe files have none
    with pytest.raises(ConfigError, match="no header"):
        from_config.check_glove_file(cfg.replace(glove_file=str(header)))
    with pytest.raises(ConfigError, match="is not a file"):
        from_config.check_glove_file(cfg.replace(glove_file=str(tmp_path)))
    assert from_config.check_glove_file(cfg) is None  # None: TF-IDF


def test_glove_vectors_without_the_questions_words_are_refused(tmp_path):
    run = _run_folder(tmp_path)
    other = tmp_path / "glove.other.txt"
    other.write_text("zebra 1 0 0 0\nyak 0 1 0 0\n")
    with pytest.raises(data.DataFormatError, match="glove_file.*none of the"):
        stage_schedule(preset("tiny", glove_file=str(other), epochs=4), run, methods=("kpod",))


def test_glove_file_is_a_schedule_setting_and_off_in_every_preset():
    assert made.FIRST_READ["glove_file"] == "schedule"  # a re-run with another file rebuilds the schedule only
    assert all(cfg.glove_file is None for cfg in PRESETS.values())  # nothing downloads GloVe here
    with pytest.raises(ConfigError, match="glove_file"):
        preset("tiny", glove_file=" ")


# --- §3.3: FlanT5-XL's answer predictor is FlanT5-Large ------------------------------------------


def test_the_flan_t5_xl_preset_predicts_answers_with_flan_t5_large(monkeypatch):
    from kpod_lite import memory
    from kpod_lite.families import family_of
    from kpod_lite.memory import GiB, estimate_memory
    from kpod_lite.models.published import published_config

    cfg = preset("flan-t5-xl")
    assert cfg.student == "google/flan-t5-xl" and cfg.weighting_predictor == "google/flan-t5-large"
    xl, large = published_config("google/flan-t5-xl"), published_config("google/flan-t5-large")
    # Eq. 4's masks are drawn per student token and applied to the predictor's embeddings: one vocabulary.
    assert family_of(large) == family_of(xl) and large.vocab_size == xl.vocab_size
    asked = []

    def offline_config(name, trust_remote_code=False, setting="student"):
        asked.append((setting, name))
        return published_config(name)

    monkeypatch.setattr(memory, "load_model_config", offline_config)
    estimates = memory.preflight(cfg.replace(device="cpu"), stages=("weigh",), gpu=(80 * GiB, 80 * GiB),
                                 echo=lambda text: None)
    assert ("weighting_predictor", "google/flan-t5-large") in asked
    with_large = estimate_memory(cfg, xl, bf16=False, predictor_config=large)["weigh"].total
    with_xl_copy = estimate_memory(cfg, xl, bf16=False)["weigh"].total
    assert estimates["weigh"]["total"] == with_large
    assert with_large < with_xl_copy  # a smaller predictor: fewer adapters and activations


def test_kpod_lite_run_refuses_a_missing_glove_file_before_any_stage(tmp_path):
    from kpod_lite import pipeline
    from kpod_lite.config import preset

    cfg = preset("tiny", glove_file=str(tmp_path / "glove.6B.300d.txt"), train_size=20, test_size=5)
    with pytest.raises(ConfigError, match="glove_file"):
        pipeline.run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "questions").exists() and not (tmp_path / "run" / "weights.jsonl").exists()
