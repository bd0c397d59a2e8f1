"""Property: every reader of a file a command is given either reads it or refuses it cleanly.

Seeded random malformations (a cut at any byte, a field of the wrong type, NaN, an unknown
id, a field removed, a line of garbage, a line twice) are fed to each reader; the only
exceptions allowed are the clean ones a command prints in one paragraph (`DataFormatError`,
`ConfigError`: `errors.report_errors`), never a traceback's KeyError, TypeError or IndexError.
"""

import json
import math
import random
from pathlib import Path

import pytest

from kpod_lite import data, stats
from kpod_lite.config import ConfigError, preset
from kpod_lite.pipeline.results import student_dir

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
CASES = 40  # per reader: ~0.5 s each, and every kind of malformation several times
ODD_VALUES = [None, "x", "", -1, 3.5, math.nan, True, [], {}, [None], {"a": 1}, 10 ** 30]


def malformed(text: str, rng: random.Random) -> str:
    """`text` (JSON Lines, or one JSON document) with one random malformation."""
    lines = text.splitlines(keepends=True)
    kind = rng.choice(["cut", "value", "drop", "unknown id", "garbage", "twice"])
    if kind == "cut" or not lines:
        return text[: rng.randrange(len(text) + 1)]
    if kind == "garbage":
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(['{"id": \n', "[1, 2]\n", "null\n", "\x00\xff\n"]))
        return "".join(lines)
    if kind == "twice":
        line = rng.choice(lines)
        lines.insert(rng.randrange(len(lines) + 1), line if line.endswith("\n") else line + "\n")
        return "".join(lines)
    try:  # one JSON document (a schedule, config.json): change it as a whole
        document, index = json.loads(text), None
    except json.JSONDecodeError:  # JSON Lines: change one record
        index = rng.randrange(len(lines))
        document = json.loads(lines[index])
    target = _random_mapping(document, rng)
    if target is None:
        return text[: rng.randrange(len(text) + 1)]
    key = rng.choice(sorted(target))
    if kind == "drop":
        del target[key]
    elif kind == "unknown id":
        target["id" if "id" in target else key] = "zz-unknown"
    else:
        target[key] = rng.choice(ODD_VALUES)
    if index is None:
        return json.dumps(document)
    lines[index] = json.dumps(document) + ("\n" if lines[index].endswith("\n") else "")
    return "".join(lines)


def _random_mapping(value, rng: random.Random, depth: int = 0):
    """A dict somewhere in `value` (the record itself, or one nested in it), at random."""
    found = []

    def walk(node, level):
        if isinstance(node, dict) and node:
            found.append(node)
        if level < 3:
            for child in (node.values() if isinstance(node, dict) else node if isinstance(node, list) else []):
                walk(child, level + 1)

    walk(value, depth)
    return rng.choice(found) if found else None


def clean_or_fine(read, path: Path, original: str, seed: int) -> None:
    """Feed `CASES` malformations of `original` at `path` to `read`; only clean errors may escape."""
    rng = random.Random(seed)
    for case in range(CASES):
        text = malformed(original, rng)
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        try:
            read()
        except (data.DataFormatError, ConfigError):
            pass
        except Exception as error:  # noqa: BLE001: the property is that nothing else escapes
            pytest.fail(f"case {case}: {type(error).__name__}: {error}\nfrom the file:\n{text[:600]}")


@pytest.fixture(scope="module")
def rationale_text() -> str:
    from kpod_lite import teacher

    examples = data.load_examples(SAMPLES / "synthetic" / "train.jsonl", "kpod")[:4]
    backend = teacher.make_backend("template")
    requests = [teacher.TeacherRequest(example) for example in examples]
    records = []
    for request, output in backend.generate(requests, temperature=0.0, max_tokens=256, seed=0):
        from kpod_lite.teacher.cleaning import grade

        records.append(grade(request, output, backend.name).to_record())
    return "".join(json.dumps(r) + "\n" for r in records)


def test_distill_inputs_are_read_or_refused(tmp_path, rationale_text):
    from kpod_lite.distill.run import check_inputs
    from kpod_lite.schedule import Schedule, Stage
    from kpod_lite.weighting.records import record_origin

    records = [json.loads(line) for line in rationale_text.splitlines()]
    names = [r["id"] for r in records]
    weights = "".join(json.dumps({"id": i, "sample": 0, "tokens": ["a"], "weights": [0.5]}) + "\n" for i in names)
    schedule = Schedule(T=1, D=[0.0, 1.0], stages=[Stage(0, 0.5, 0.5, names[:1], {i: 1 for i in names})], ids=names,
                        params={"epochs": 2, "progressive_epochs": 1}).to_json()
    files = {"r.jsonl": rationale_text, "w.jsonl": weights, "s.json": schedule}
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    def read():  # what distill_files reads and checks before the student is loaded
        lines = {name: list(data.read_jsonl(tmp_path / name)) for name in ("r.jsonl", "w.jsonl")}
        origins = tuple([record_origin(str(tmp_path / name), line, i, r) for i, (line, r) in enumerate(lines[name])]
                        for name in ("r.jsonl", "w.jsonl"))
        check_inputs([r for _, r in lines["r.jsonl"]], [w for _, w in lines["w.jsonl"]],
                     Schedule.load(tmp_path / "s.json"), origins)

    read()  # the unbroken files pass
    for seed, (name, text) in enumerate(files.items()):
        clean_or_fine(read, tmp_path / name, text, seed)
        (tmp_path / name).write_text(text)


def test_difficulty_records_are_read_or_refused_by_schedule(tmp_path, rationale_text):
    from kpod_lite.schedule import schedule_file

    rows = [{"id": r["id"], "sample": 0, "steps": [s.text for s in data.split_steps(r["rationale"])]}
            for r in map(json.loads, rationale_text.splitlines())]
    text = "".join(json.dumps({**r, "difficulty": [1.0 + k for k in range(len(r["steps"]))]}) + "\n" for r in rows)
    (tmp_path / "r.jsonl").write_text(rationale_text)
    cfg = preset("tiny", epochs=2)
    clean_or_fine(lambda: schedule_file(tmp_path / "d.jsonl", tmp_path / "r.jsonl", tmp_path / "s.json", cfg),
                  tmp_path / "d.jsonl", text, seed=11)


def test_a_teacher_cache_is_read_or_refused(tmp_path, rationale_text):
    from kpod_lite.teacher import read_cache

    clean_or_fine(lambda: read_cache(tmp_path / "c.jsonl"), tmp_path / "c.jsonl", rationale_text, seed=12)


def test_predictions_are_read_or_refused_by_stats(tmp_path):
    lines = "".join(json.dumps({"id": f"q{i}", "correct": i % 2 == 0, "prediction": "3"}) + "\n" for i in range(6))
    for method in ("a", "b"):
        folder = student_dir(tmp_path, method, 0)
        folder.mkdir(parents=True)
        (folder / "test.predictions.jsonl").write_text(lines)
    clean_or_fine(lambda: stats.compare(tmp_path, "a", "b", [0], resamples=50),
                  student_dir(tmp_path, "b", 0) / "test.predictions.jsonl", lines, seed=13)


def test_run_folder_state_files_are_read_or_refused(tmp_path):
    from kpod_lite.state_files import check_run_folder

    config = json.dumps(preset("tiny").to_dict(), indent=1)
    stages = json.dumps({"teach": {"inputs": {"questions/train.jsonl": "ab" * 32}}}, indent=1)
    clean_or_fine(lambda: check_run_folder(tmp_path), tmp_path / "config.json", config, seed=14)
    (tmp_path / "config.json").unlink()
    clean_or_fine(lambda: check_run_folder(tmp_path), tmp_path / "stages.json", stages, seed=15)


def test_binary_state_files_are_read_or_refused(tmp_path):
    import torch
    from safetensors.torch import save_file

    from kpod_lite.state_files import check_safetensors
    from kpod_lite.weighting.checkpoint import load_state

    save_file({"a": torch.ones(16, 4), "b": torch.zeros(3)}, str(tmp_path / "m.safetensors"))
    torch.save({"fingerprint": "f", "epochs_done": 1, "weighter": {"w": torch.ones(3)}, "predictor": {},
                "optimizer": {}, "rng": (3, (1, 2), None), "generator": torch.ones(2, dtype=torch.uint8),
                "torch_rng": torch.ones(2, dtype=torch.uint8), "history": "{}"}, tmp_path / "state.pt")
    rng = random.Random(16)
    for name, read in (("m.safetensors", lambda p: check_safetensors(p, "copy it again")),
                       ("state.pt", lambda p: load_state(p, "f"))):
        blob = (tmp_path / name).read_bytes()
        read(tmp_path / name)  # the whole file is fine
        for case in range(CASES):
            cut = bytearray(blob[: rng.randrange(len(blob))])
            if cut and rng.random() < 0.5:  # or a byte changed somewhere
                cut[rng.randrange(len(cut))] ^= 0xFF
                cut += blob[len(cut):]
            (tmp_path / name).write_bytes(bytes(cut))
            try:
                read(tmp_path / name)
            except (data.DataFormatError, ConfigError):
                pass
            except Exception as error:  # noqa: BLE001
                pytest.fail(f"{name} case {case}: {type(error).__name__}: {error}")
