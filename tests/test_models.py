"""Students and tokenizers (App. A): the tiny tokenizer's exact round trip and digit split,
the tiny models' from_pretrained path from a safetensors cache, pretraining that beats a
random model, deterministic and concurrency-safe builds, LoRA, and the loading rules
(safetensors only, trust_remote_code off unless asked)."""

import json
import math
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    LlamaForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

from kpod_lite import models
from kpod_lite.config import ConfigError, preset
from kpod_lite.families import LORA_TARGET_MODULES
from kpod_lite.templates import build_prompt

REPO = Path(__file__).resolve().parents[1]

# A deliberately small recipe for the tests that build (a few seconds each); the real tiny
# students come from the user's cache, built once.
SMALL = dict(d_model=32, layers=1, heads=2, d_ff=64, vocab_size=400, sentinels=8,
             corpus_size=150, heldout_size=20, steps=12, batch_size=8)

TRICKY_TEXTS = [
    "Price: $1,234 (about 5% off), i.e. $1,172; done!",
    "  two  leading spaces, a tab\tand a newline\nhere ",
    "café, naïve, 日本語, emoji 🙂 — all unseen in training",
    "Q: What is 3 + 4?\nA: Let's think step by step.",
    "Wait , so it 's 3 . Right ? Yes ! I don't know .",  # what space clean-up would eat
]


@pytest.fixture(scope="module")
def t5_folder():
    return models.tiny_model_path("tiny-t5")


@pytest.fixture(scope="module")
def llama_folder():
    return models.tiny_model_path("tiny-llama")


@pytest.fixture(scope="module", params=["tiny-t5", "tiny-llama"])
def tiny(request, t5_folder, llama_folder):
    """(name, folder, spec) for each tiny student."""
    folder = t5_folder if request.param == "tiny-t5" else llama_folder
    return request.param, folder, models.TINY_SPECS[request.param]


def tiny_config(name, **changes):
    return preset("tiny", student=name, **changes)


# --- the tokenizer ---------------------------------------------------------------------


def test_round_trip_is_exact_on_corpus_and_tricky_text(tiny):
    name, folder, spec = tiny
    tokenizer = AutoTokenizer.from_pretrained(folder)
    texts = models.heldout_corpus(spec) + models.pretraining_corpus(spec.corpus_seed, 100) + TRICKY_TEXTS
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_unseen_characters_fall_back_to_bytes_never_unk(t5_folder):
    tokenizer = AutoTokenizer.from_pretrained(t5_folder)
    text = "日本 café"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    # "日" and "本" never occur in the corpus: three byte tokens each.
    assert len(tokenizer("日本", add_special_tokens=False)["input_ids"]) == len("日本".encode("utf-8"))
    assert tokenizer.decode(ids) == text


def test_digits_are_always_single_tokens(t5_folder):
    tokenizer = AutoTokenizer.from_pretrained(t5_folder)
    with_digits = [token for token in tokenizer.get_vocab()
                   if any(c in "0123456789" for c in token) and token not in tokenizer.all_special_tokens]
    assert sorted(with_digits) == list("0123456789")
    ids = tokenizer("Ana has 12345 eggs and 907 more.", add_special_tokens=False)["input_ids"]
    pieces = [tokenizer.decode([i]) for i in ids]
    for digit in "12345907":
        assert digit in pieces
    assert "12" not in pieces and "907" not in pieces


def test_special_tokens_follow_each_family(t5_folder, llama_folder):
    t5 = models.load_tokenizer(tiny_config("tiny-t5"))
    assert t5("Ana")["input_ids"][-1] == t5.eos_token_id  # FlanT5 appends </s>
    assert t5.pad_token == "<pad>" and t5.pad_token_id == 0
    assert T5ForConditionalGeneration.from_pretrained(t5_folder).config.decoder_start_token_id == t5.pad_token_id
    assert t5.convert_tokens_to_ids("<extra_id_0>") != t5.unk_token_id

    llama = models.load_tokenizer(tiny_config("tiny-llama"))
    assert llama("Ana")["input_ids"][0] == llama.bos_token_id  # LLaMA prepends <s>
    assert AutoTokenizer.from_pretrained(llama_folder).pad_token is None  # like LLaMA's own
    assert llama.pad_token == llama.eos_token  # ... so load_tokenizer lends it eos
    assert llama.padding_side == "right"


def test_pretraining_corpus_is_disjoint_from_shipped_splits_and_heldout():
    spec = models.TINY_SPECS["tiny-t5"]
    train = models.pretraining_corpus(spec.corpus_seed, spec.corpus_size)
    assert not set(train) & set(models.heldout_corpus(spec))
    shipped = [json.loads(line)["question"]
               for path in sorted((REPO / "data_samples" / "synthetic").glob("*.jsonl"))
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not shipped:
        pytest.skip("no shipped synthetic splits in this checkout")
    assert not {build_prompt(q) for q in shipped} & set(train)
    # Questions and rationales are separate documents: no question -> rationale pairs.
    assert all(doc.startswith("Q: ") for doc in train[0::2])
    assert not any("Therefore, the answer is" in doc for doc in train[0::2])


# --- the tiny models -----------------------------------------------------------------------


def test_tiny_models_load_through_from_pretrained_from_safetensors(tiny):
    name, folder, spec = tiny
    files = {path.name for path in folder.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "build.json"} <= files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    auto_class = AutoModelForSeq2SeqLM if spec.model_type == "t5" else AutoModelForCausalLM
    model = auto_class.from_pretrained(folder, use_safetensors=True)
    assert isinstance(model, T5ForConditionalGeneration if spec.model_type == "t5" else LlamaForCausalLM)
    if spec.model_type == "t5":
        assert model.config.feed_forward_proj == "gated-gelu"  # as in FlanT5
    assert model.get_input_embeddings().num_embeddings == len(AutoTokenizer.from_pretrained(folder))


def test_pretraining_beats_a_random_model_on_heldout_text(tiny):
    name, folder, spec = tiny
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = (AutoModelForSeq2SeqLM if spec.model_type == "t5" else AutoModelForCausalLM).from_pretrained(folder)
    texts = models.heldout_corpus(spec)[:64]
    pretrained = models.pretraining_loss(model, tokenizer, texts, spec.model_type)
    torch.manual_seed(0)
    random_model = type(model)(model.config)
    random_loss = models.pretraining_loss(random_model, tokenizer, texts, spec.model_type)
    assert pretrained < 0.5 * math.log(len(tokenizer))
    assert pretrained < random_loss - 2.0
    record = json.loads((folder / "build.json").read_text())
    assert record["loss_curve"][-1][1] < record["loss_curve"][0][1]
    assert record["heldout_loss"] < 0.5 * record["random_loss"]


def test_load_student_gives_the_tiny_models(t5_folder, llama_folder):
    model, tokenizer = models.load_student(preset("tiny", student="tiny-t5"), device="cpu")
    assert isinstance(model, T5ForConditionalGeneration) and model.dtype == torch.float32
    assert model.device.type == "cpu" and tokenizer.eos_token == "</s>"
    model, tokenizer = models.load_student(tiny_config("tiny-llama"), device="cpu")
    assert isinstance(model, LlamaForCausalLM) and tokenizer.pad_token == tokenizer.eos_token
    # Seq2seq or causal is read off each model's own config, never from a setting.
    assert models.student_family(preset("tiny", student="tiny-t5")).seq2seq
    assert not models.student_family(tiny_config("tiny-llama")).seq2seq


def test_build_is_deterministic_and_leaves_global_rng_alone(tmp_path, monkeypatch):
    folders = []
    for run in ("a", "b"):
        monkeypatch.setenv("KPOD_CACHE", str(tmp_path / run))
        before = torch.random.get_rng_state()
        folders.append(models.tiny_model_path("tiny-t5", **SMALL))
        assert torch.equal(torch.random.get_rng_state(), before)
    first, second = (T5ForConditionalGeneration.from_pretrained(f).state_dict() for f in folders)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes()
    assert folders[0].name == folders[1].name  # same recipe, same hash


def test_cache_key_tracks_the_recipe_and_cache_root_the_environment(tmp_path, monkeypatch):
    spec = models.tiny_spec("tiny-t5", **SMALL)
    assert models.tiny_model_key(spec) == models.tiny_model_key(models.tiny_spec("tiny-t5", **SMALL))
    assert models.tiny_model_key(spec) != models.tiny_model_key(spec.replace(steps=13))
    assert models.tiny_model_key(spec) != models.tiny_model_key(spec.replace(corpus_seed=10_002))
    with pytest.raises(ConfigError, match="unknown tiny-model"):
        spec.replace(width=3)
    monkeypatch.setenv("KPOD_CACHE", str(tmp_path / "k"))
    assert models.cache_root() == tmp_path / "k"
    monkeypatch.delenv("KPOD_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_root() == tmp_path / "xdg" / "kpod-lite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models.cache_root() == tmp_path / "home" / ".cache" / "kpod-lite"


def test_a_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("KPOD_CACHE", str(tmp_path))

    def crash(spec, out_dir):
        (Path(out_dir) / "config.json").write_text("{}")
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr(models, "build_tiny_model", crash)
    with pytest.raises(RuntimeError, match="killed"):
        models.tiny_model_path("tiny-t5", **SMALL)
    assert [p.name for p in (tmp_path / "models").iterdir()] == [
        f"tiny-t5-{models.tiny_model_key(models.tiny_spec('tiny-t5', **SMALL))}.lock"]


BUILD_SCRIPT = textwrap.dedent("""
    import hashlib, json, logging, sys, time
    from pathlib import Path
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from transformers import T5ForConditionalGeneration
    from kpod_lite import models
    ready, go, overrides = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    ready.touch()
    while not go.exists():  # start together, so the two builds really race
        time.sleep(0.01)
    folder = models.tiny_model_path("tiny-t5", **overrides)
    state = T5ForConditionalGeneration.from_pretrained(folder, use_safetensors=True).state_dict()
    digest = hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest()
    print(json.dumps({"folder": str(folder), "digest": digest}))
""")


def test_two_processes_building_at_once_get_one_complete_folder(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "KPOD_CACHE": str(cache)}
    processes = [
        subprocess.Popen([sys.executable, "-c", BUILD_SCRIPT, str(tmp_path / f"ready{i}"),
                          str(tmp_path / "go"), json.dumps(SMALL)],
                         cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        assert time.monotonic() < deadline, "the build processes never got ready"
        time.sleep(0.05)
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    results = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    assert results[0] == results[1]
    assert sum("building tiny-t5" in stderr for _, stderr in outputs) == 1  # the other waited
    folder = Path(results[0]["folder"])
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
            "build.json"} <= {p.name for p in folder.iterdir()}
    assert not [p for p in (cache / "models").iterdir() if ".tmp-" in p.name]


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(10, 99), min_size=2, max_size=120), seed=st.integers(0, 10**6))
def test_span_corruption_hides_spans_that_the_target_restores(ids, seed):
    sentinels, eos = list(range(100, 116)), 1
    inputs, targets = models.span_corrupt(ids, random.Random(seed), sentinels, eos)
    assert inputs[-1] == eos and targets[-1] == eos
    # Put every span back where its sentinel stands: the document comes back exactly.
    spans, current = {}, None
    for token in targets[:-1]:
        if token in sentinels:
            current = spans.setdefault(token, [])
        else:
            current.append(token)
    restored = [t for token in inputs[:-1] for t in (spans[token] if token in sentinels else [token])]
    assert restored == ids
    assert all(spans.values()) and 1 <= sum(map(len, spans.values())) < len(ids)
    assert targets[0] == sentinels[0] and inputs[0] not in sentinels


# --- LoRA and embeddings --------------------------------------------------------------------


def test_apply_lora_trains_only_the_adapters(tiny):
    from peft import PeftModel

    name, folder, spec = tiny
    config = tiny_config(name, lora=True, lora_rank=4, lora_alpha=8)
    model, _ = models.load_student(config, device="cpu")
    _, total_before = models.trainable_parameters(model)
    targets = set(LORA_TARGET_MODULES[spec.model_type])
    wrapped_linears = [module for path, module in model.named_modules()
                       if path.split(".")[-1] in targets and isinstance(module, torch.nn.Linear)]
    expected = sum(config.lora_rank * (m.in_features + m.out_features) for m in wrapped_linears)
    assert wrapped_linears and expected > 0

    lora_model = models.apply_lora(model, config)
    assert isinstance(lora_model, PeftModel)
    trainable, total = models.trainable_parameters(lora_model)
    assert trainable == expected and total == total_before + expected
    assert all("lora_" in n for n, p in lora_model.named_parameters() if p.requires_grad)
    assert lora_model.peft_config["default"].r == 4 and lora_model.peft_config["default"].lora_alpha == 8


def test_student_input_embeddings_is_the_models_own_layer(t5_folder):
    model, tokenizer = models.load_student(preset("tiny", student="tiny-t5"), device="cpu")
    embeddings = models.student_input_embeddings(model)
    assert isinstance(embeddings, torch.nn.Embedding)
    assert embeddings is model.shared and embeddings.num_embeddings == len(tokenizer)
    lora_model = models.apply_lora(model, preset("tiny", student="tiny-t5", lora_rank=2, lora_alpha=4))
    assert models.student_input_embeddings(lora_model) is embeddings


# --- loading from a folder or the hub --------------------------------------------------------


@pytest.mark.parametrize("family", ["t5", "llama"])
def test_load_student_from_a_saved_folder(family, tmp_path, t5_folder, llama_folder):
    source = t5_folder if family == "t5" else llama_folder
    tokenizer = AutoTokenizer.from_pretrained(source)
    spec = models.TinySpec(model_type=family, d_model=16, layers=1, heads=2, d_ff=32)
    torch.manual_seed(1)
    auto_class = AutoModelForSeq2SeqLM if family == "t5" else AutoModelForCausalLM
    saved = auto_class.from_config(models.tiny_model_config(spec, len(tokenizer), tokenizer))
    saved.save_pretrained(tmp_path, safe_serialization=True)
    tokenizer.save_pretrained(tmp_path)
    assert not list(tmp_path.glob("*.bin"))

    config = preset("tiny", student=str(tmp_path))
    model, loaded_tokenizer = models.load_student(config, device="cpu")
    assert type(model) is type(saved)
    expected = saved.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in model.state_dict().items())
    assert loaded_tokenizer("Ana 12")["input_ids"] == tokenizer("Ana 12")["input_ids"]
    assert loaded_tokenizer.pad_token is not None


class _Called(Exception):
    pass


@pytest.mark.parametrize("trust", [None, True])
def test_trust_remote_code_comes_from_the_config_and_defaults_off(trust, monkeypatch):
    calls = {}

    def fake(name):
        def from_pretrained(location, **kwargs):
            calls[name] = (location, kwargs)
            raise _Called
        return from_pretrained

    def fake_config(location, **kwargs):  # the family is read off the model's own config
        calls["config"] = (location, kwargs)
        return T5Config()

    monkeypatch.setattr(AutoConfig, "from_pretrained", fake_config)
    monkeypatch.setattr(AutoModelForSeq2SeqLM, "from_pretrained", fake("model"))
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", fake("tokenizer"))
    config = preset("flan-t5-large") if trust is None else preset("flan-t5-large", trust_remote_code=trust)
    with pytest.raises(_Called):
        models.load_student(config, device="cpu")
    with pytest.raises(_Called):
        models.load_tokenizer(config)
    expected = False if trust is None else trust
    location, kwargs = calls["model"]
    assert location == "google/flan-t5-large"
    assert kwargs["trust_remote_code"] is expected and kwargs["use_safetensors"] is True
    assert calls["tokenizer"][1]["trust_remote_code"] is expected
    assert calls["config"][1]["trust_remote_code"] is expected


def test_bf16_only_where_the_device_supports_it(monkeypatch):
    assert models.student_dtype(preset("tiny", bf16=True), torch.device("cpu")) == torch.float32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    asked = []

    def native_only(including_emulation=True):
        asked.append(including_emulation)
        return not including_emulation  # an Ampere GPU

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", native_only)
    assert models.student_dtype(preset("tiny", bf16=True), torch.device("cuda")) == torch.bfloat16
    assert models.student_dtype(preset("tiny", bf16=False), torch.device("cuda")) == torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert models.student_dtype(preset("tiny", bf16=True), torch.device("cuda")) == torch.float32, \
        "a T4 only emulates bf16: float32 there"
    assert asked == [False], "emulated bf16 never counts"


def test_causal_student_and_its_tokenizer_agree_on_padding(llama_folder):
    # Otherwise every Trainer and generate() call warns that it "aligned" them itself.
    model, tokenizer = models.load_student(tiny_config("tiny-llama"), device="cpu")
    assert tokenizer.pad_token_id is not None
    assert model.config.pad_token_id == model.generation_config.pad_token_id == tokenizer.pad_token_id
