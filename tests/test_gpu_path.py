"""The GPU path on a CPU: what a first real GPU run must not break on, checked with torch.cuda
replaced by a fake where a GPU is needed (`fake_cuda`). Where the students run
(`models.loading.student_device`), a model the Hub refuses, safetensors only, one GPU of several,
each stage's GPU peak next to its estimate, the memory a stage gives back, and the random states
of the model's own GPU only."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import shutil
import weakref
from types import SimpleNamespace

import pytest
import torch

from kpod_lite import cli, data, distill, memory, pipeline, synthetic, teacher, versions
from kpod_lite.config import ConfigError, preset
from kpod_lite.memory import GiB, MiB
from kpod_lite.models import load_student, tiny_model_path
from kpod_lite.models.loading import describe_device, model_cuda_devices, student_device

GATED = "meta-llama/Llama-2-7b-hf"


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch.cuda as a machine with `gpus` 24 GiB GPUs shows it; what was asked of it is in `calls`."""
    cuda = SimpleNamespace(gpus=1, allocated=0, calls=[])

    def record(name, result=None):
        def call(*args, **kwargs):
            cuda.calls.append((name, *args))
            return result() if callable(result) else result
        return call

    for name, result in {
        "is_available": True, "current_device": 0, "set_device": None,
        "get_device_name": "Fake GPU", "mem_get_info": (20 * GiB, 24 * GiB), "empty_cache": None,
        "reset_peak_memory_stats": None, "set_rng_state": None,
        "device_count": lambda: cuda.gpus,
        "get_device_properties": SimpleNamespace(name="Fake GPU", total_memory=24 * GiB),
        "is_bf16_supported": True,
        "max_memory_allocated": lambda: cuda.allocated, "max_memory_reserved": lambda: cuda.allocated + GiB,
        "get_rng_state": torch.get_rng_state, "get_rng_state_all": lambda: [torch.get_rng_state()] * cuda.gpus,
    }.items():
        monkeypatch.setattr(torch.cuda, name, record(name, result))
    yield cuda
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # TrainingArguments left a fake cuda:0 there


def asked(cuda, name):
    return [call[1:] for call in cuda.calls if call[0] == name]


@pytest.fixture(scope="module")
def rationales(tmp_path_factory):
    """Template-teacher rationales for 8 synthetic questions (§3.1)."""
    folder = tmp_path_factory.mktemp("teach")
    data.write_jsonl(folder / "q.jsonl", [p.to_record() for p in synthetic.generate_dataset(8, seed=0)])
    teacher.teach(data.load_examples(folder / "q.jsonl", "kpod"), teacher.make_backend("template"),
                  out=folder / "r.jsonl", progress=False)
    return [record for _, record in data.read_jsonl(folder / "r.jsonl")]


@pytest.fixture(scope="module")
def folder_student(tmp_path_factory):
    """The tiny LLaMA as a folder of real weights would be: a path, not a name this package builds."""
    folder = tmp_path_factory.mktemp("student") / "llama"
    shutil.copytree(tiny_model_path("tiny-llama"), folder)
    return folder


def small(**changes):
    cfg = preset("tiny")
    return cfg.replace(train_size=8, validation_size=0, test_size=2, ood=(), epochs=1, weighting_epochs=1,
                       weighting_predictor_warmup_steps=2, max_new_tokens=8, max_source_length=64,
                       max_target_length=64, **changes)


def in_bf16(monkeypatch):
    """The Trainer in bfloat16 on the CPU: accelerate wraps the student's forward as it does on a GPU."""
    from kpod_lite.distill import run

    real = run.training_arguments
    monkeypatch.setattr(run, "training_arguments", lambda *a, **k: dataclasses.replace(real(*a, **k), bf16=True))


# --- where the students run -----------------------------------------------------------------------------


def test_a_gpu_student_without_cuda_is_refused_saying_why_and_how_to_insist(monkeypatch, folder_student):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError) as error:
        student_device(preset("colab"))
    message = str(error.value)
    assert "'google/flan-t5-large', a model for a GPU" in message and "hours or days" in message
    assert "kpod-lite run --device cpu" in message and 'cfg.replace(device="cpu")' in message
    assert student_device(preset("colab", device="cpu")) == torch.device("cpu")
    for name in ("tiny-llama", "rehearsal-llama-7b"):  # the local builds are made for a CPU
        assert student_device(preset("tiny", student=name, weighting_predictor=None)) == torch.device("cpu")
    with pytest.raises(ConfigError, match="device 'cuda' is set"):
        student_device(preset("tiny", device="cuda"))
    cfg = preset("tiny", student=str(folder_student), weighting_predictor=None)
    with pytest.raises(ConfigError, match="a model for a GPU"):
        load_student(cfg)
    model, _ = load_student(cfg.replace(device="cpu"))
    assert model.device.type == "cpu"


def test_the_device_setting_changes_no_stage_output(tmp_path):
    from kpod_lite.weighting.checkpoint import fingerprint

    assert fingerprint(preset("tiny"), []) == fingerprint(preset("tiny", device="cpu"), [])
    with pytest.raises(ConfigError, match="device must be 'auto', 'cuda' or 'cpu'"):
        preset("tiny", device="gpu")


def test_the_pipeline_refuses_a_gpu_student_without_cuda_before_any_stage(monkeypatch, tmp_path, folder_student,
                                                                           capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    small_run = ["train_size=8", "validation_size=0", "test_size=2", "ood=[]", "weighting_epochs=1",
                 "weighting_predictor_warmup_steps=2"]  # were it not refused
    code = cli.main(["run", "--preset", "tiny", "--set", f'student="{folder_student}"', "weighting_predictor=null",
                     *small_run, "--out", str(out), "--until", "weigh", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--device cpu" in err and "Traceback" not in err
    assert not (out / "questions").exists()


def test_device_is_a_flag_of_the_commands_that_load_a_student(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for command in (["weigh", "--rationales", "r", "--out", "o"], ["difficulty", "--rationales", "r", "--weights",
                    "w", "--out", "o"], ["distill", "--rationales", "r", "--out", "o"],
                    ["evaluate", "--model", "m", "--data", "d", "--out", "o"], ["run"]):
        args = cli.build_parser().parse_args([*command, "--device", "cpu"])
        assert cli._config(args).device == "cpu", command[0]
    cli._student_config(cli.build_parser().parse_args(["weigh", "--rationales", "r", "--out", "o"]))
    assert capsys.readouterr().err.startswith("device: cpu (")


# --- loading: the Hub's refusals, safetensors only, and the libraries slow tokenizers need ------------------


def gated(monkeypatch):
    """AutoConfig meets a gated repository, as transformers reports it (an OSError from the Hub's error)."""
    import transformers
    from huggingface_hub.utils import GatedRepoError

    cause = GatedRepoError.__new__(GatedRepoError)  # its constructor's arguments differ between versions
    Exception.__init__(cause, f"401 Client Error. Cannot access gated repo for url https://huggingface.co/{GATED}.")

    def refuse(name, *args, **kwargs):
        raise OSError(f"You are trying to access a gated repo.\nMake sure to have access to it at "
                      f"https://huggingface.co/{name}.\n{cause}") from cause

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", refuse)


def test_a_gated_student_is_refused_with_what_to_do(monkeypatch):
    gated(monkeypatch)
    with pytest.raises(ConfigError) as error:
        memory.load_model_config(GATED)
    message = str(error.value)
    assert f"cannot load student {GATED!r}: it is gated" in message
    for advice in ("hf auth login", "huggingface-cli login", "HF_TOKEN", f"licence on https://huggingface.co/{GATED}",
                   "local folder"):
        assert advice in message, advice


def test_the_memory_check_stops_the_run_on_a_refused_student_before_any_stage(monkeypatch, tmp_path, capsys):
    gated(monkeypatch)
    with pytest.raises(ConfigError, match="it is gated"):
        memory.preflight(preset("llama-7b", student=GATED, device="cpu"))
    code = cli.main(["run", "--preset", "llama-7b", "--device", "cpu", "--set", f'student="{GATED}"',
                     "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "hf auth login" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "questions").exists()


def test_an_unreachable_hub_is_said_so(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match="not in the Hugging Face cache and the Hub cannot be reached"):
        memory.load_model_config("kpod-lite/no-such-student", setting="weighting_predictor")


def test_a_folder_with_pickled_weights_only_is_refused_naming_it_and_how_to_convert(tmp_path, folder_student):
    folder = tmp_path / "bin-only"
    shutil.copytree(folder_student, folder)
    from safetensors.torch import load_file

    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    cfg = preset("tiny", student=str(folder), weighting_predictor=None, device="cpu")
    for check in (lambda: load_student(cfg), lambda: memory.preflight(cfg)):
        with pytest.raises(ConfigError) as error:
            check()
        message = str(error.value)
        assert f"student folder {folder} holds its weights as pytorch_model.bin only" in message
        assert "AutoModelForCausalLM" in message and "save_pretrained(" in message
        assert "safe_serialization=True" in message


def test_the_tokenizer_libraries_of_llama_and_flan_t5_are_installed_with_the_package():
    assert {"sentencepiece", "protobuf"} <= {r.name for r in versions.requirements()}


# --- several GPUs: the Trainer trains on one ----------------------------------------------------------------


def test_several_gpus_train_on_one_and_the_log_says_how_to_use_them(fake_cuda, tmp_path, caplog):
    from kpod_lite.distill import training_arguments

    fake_cuda.gpus = 4
    cfg = preset("tiny")
    with caplog.at_level(logging.WARNING, logger="kpod_lite.distill"):
        args = training_arguments(cfg, tmp_path)
    assert args.device.type == "cuda" and not args.use_cpu
    assert args.n_gpu == 1 and args.train_batch_size == cfg.batch_size, "no nn.DataParallel over 4 GPUs"
    assert "4 GPUs are visible" in caplog.text and "accelerate launch --num_processes 4" in caplog.text


# --- each stage's GPU peak, next to its estimate --------------------------------------------------------------


def test_a_stage_measures_its_own_gpu_peak_and_gives_its_memory_back(fake_cuda):
    def stage():
        assert asked(fake_cuda, "reset_peak_memory_stats"), "the peak is reset before the stage starts"
        fake_cuda.allocated = 3 * GiB
        return "done"

    result, spent = pipeline.measured(stage, gpu=True)
    assert result == "done" and spent["host_peak_mb"] > 0
    assert spent["gpu_peak_mb"] == {"max_allocated": 3 * 1024.0, "max_reserved": 4 * 1024.0}
    assert asked(fake_cuda, "empty_cache")


def test_the_run_summary_holds_each_stages_gpu_peak_next_to_its_estimate(fake_cuda, monkeypatch, tmp_path, capsys):
    def weigh(*args, **kwargs):
        fake_cuda.allocated = 5 * GiB

    monkeypatch.setattr(pipeline, "stage_weigh", weigh)
    cfg = small(bf16=True)
    pipeline.run(cfg, tmp_path, stages=("weigh",))
    assert "device: cuda:0 (Fake GPU, 24.0 GiB), bfloat16" in capsys.readouterr().out
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    estimate = memory.preflight(cfg, ("weigh",), echo=lambda text: None)["weigh"]["total"]
    assert summary["gpu_memory_mb_by_stage"]["weigh"] == {"max_allocated": 5 * 1024.0, "max_reserved": 6 * 1024.0,
                                                          "estimated": round(estimate / MiB, 1)}
    assert set(summary["gpu_memory_mb_by_stage"]) == {"questions", "teach", "weigh"}
    assert len(asked(fake_cuda, "reset_peak_memory_stats")) == 3, "one reset as each stage starts"
    assert summary["host_peak_memory_mb_after_stage"]["weigh"] > 0


# --- giving the memory back ---------------------------------------------------------------------------------


def test_release_collects_a_model_a_reference_cycle_holds_and_empties_the_gpu_cache(fake_cuda):
    gc.disable()  # only what release() collects is collected
    try:
        model = torch.nn.Linear(2, 2)
        model.forward = model.forward  # a method bound to the model, stored in it: a cycle, as accelerate makes
        held = weakref.ref(model)
        del model
        assert held() is not None
        memory.release()
        assert held() is None and asked(fake_cuda, "empty_cache")
    finally:
        gc.enable()


def test_the_trainers_forward_is_taken_off_also_after_accelerate_unwrapped_it():
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import extract_model_from_parallel

    try:
        accelerator = Accelerator(cpu=True, mixed_precision="bf16")
        wrapped, unwrapped = accelerator.prepare(torch.nn.Linear(2, 2)), accelerator.prepare(torch.nn.Linear(2, 2))
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    extract_model_from_parallel(unwrapped, keep_fp32_wrapper=False)  # binds the plain forward back in
    for model in (wrapped, unwrapped):
        assert "forward" in vars(model)
        memory.plain_forward(model)
        assert "forward" not in vars(model) and "_original_forward" not in vars(model)


def test_a_bf16_distilled_student_is_freed_with_the_callers_last_name_for_it(rationales, tmp_path, monkeypatch):
    in_bf16(monkeypatch)
    cfg = small(method="plain-cot")
    gc.disable()  # only what release() collects is collected
    try:
        model, _, _ = distill.distill(rationales, None, None, cfg, tmp_path, progress=False)
        assert "forward" not in vars(model), "accelerate's mixed-precision wrapper is taken off"
        held = weakref.ref(model)
        del model
        memory.release()
        assert held() is None, "nothing else holds the student"
    finally:
        gc.enable()


def test_a_students_stages_leave_no_model_behind(tmp_path, monkeypatch):
    from kpod_lite import evaluate
    from kpod_lite.distill import run
    from kpod_lite.pipeline.workers import train_student

    cfg = small()
    questions = pipeline.stage_questions(cfg, tmp_path)
    pipeline.stage_teach(cfg, tmp_path, questions["train"])
    loaded = []

    def keep(load):
        def wrapper(*args, **kwargs):
            model, tokenizer = load(*args, **kwargs)
            loaded.append(weakref.ref(model))
            return model, tokenizer
        return wrapper

    monkeypatch.setattr(run, "load_student", keep(run.load_student))
    monkeypatch.setattr(evaluate, "load_trained", keep(evaluate.load_trained))
    in_bf16(monkeypatch)
    gc.disable()
    try:
        spent = train_student(cfg, tmp_path, "plain-cot", 0, {"test": questions["test"]})
        assert set(spent) == {"distill", "evaluate"} and len(loaded) == 2
        assert all(held() is None for held in loaded), "each stage gave its student back when it ended"
    finally:
        gc.enable()


# --- random states: the model's own GPU only ------------------------------------------------------------------


def test_the_cuda_devices_of_a_model_are_those_of_its_parameters():
    on = lambda *devices: SimpleNamespace(parameters=lambda: [SimpleNamespace(device=torch.device(d)) for d in devices])
    assert model_cuda_devices(on("cpu", "cpu")) == []
    assert model_cuda_devices(on("cuda:2", "cuda:2")) == [2]


def test_mask_learning_forks_no_random_state_of_a_gpu_it_does_not_use(fake_cuda, rationales, monkeypatch):
    from kpod_lite.weighting import train_weighter

    fake_cuda.gpus = 4
    forked = []
    real = torch.random.fork_rng

    def fork_rng(devices=None, **kwargs):
        forked.append(list(devices))
        return real(devices=[], **kwargs)

    monkeypatch.setattr(torch.random, "fork_rng", fork_rng)
    cfg = small()
    student, tokenizer = load_student(cfg, "cpu")
    train_weighter(rationales[:4], cfg, student=student, tokenizer=tokenizer)
    assert forked and all(devices == [] for devices in forked), "a student on the CPU forks no GPU's state"


def test_a_mask_learning_checkpoint_keeps_the_random_state_of_the_predictors_gpu_only(fake_cuda, monkeypatch,
                                                                                       tmp_path):
    import random

    from kpod_lite.weighting import checkpoint
    from kpod_lite.weighting.checkpoint import load_state, restore_state, save_state

    fake_cuda.gpus = 4
    monkeypatch.setattr(checkpoint, "model_cuda_devices", lambda model: [2])  # the predictor on cuda:2
    weighter, predictor = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW([*weighter.parameters(), *predictor.parameters()])
    parts = dict(weighter=weighter, predictor=predictor, optimizer=optimizer, rng=random.Random(0),
                 generator=torch.Generator())
    save_state(tmp_path / "state.pt", valid_for="x", epochs_done=1, history={}, **parts)
    assert asked(fake_cuda, "get_rng_state") == [(2,)] and not asked(fake_cuda, "get_rng_state_all")
    state = load_state(tmp_path / "state.pt", "x")
    restore_state(state, **parts)
    assert [args[1] for args in asked(fake_cuda, "set_rng_state")] == [2]
    # A checkpoint written before kept one state per visible GPU, in index order.
    fake_cuda.calls.clear()
    states = [torch.full((4,), i, dtype=torch.uint8) for i in range(4)]
    restore_state({**state, "cuda_rng": states}, **parts)
    ((restored, index),) = asked(fake_cuda, "set_rng_state")
    assert index == 2 and torch.equal(restored, states[2])
