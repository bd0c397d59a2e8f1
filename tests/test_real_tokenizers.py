"""SentencePiece stand-ins for FlanT5's and LLaMA's tokenizers (`kpod_lite.models.standins`),
and what their "▁" pieces do to the token weights of Eq. 15: a target token must carry the
weight w_j (Eq. 3) that the weighting gave that very token, which Eq. 8 scored it with."""

import json
import os
import random

import pytest
from transformers import AutoTokenizer, LlamaTokenizerFast, T5TokenizerFast

from kpod_lite import data, pipeline, synthetic
from kpod_lite.config import preset
from kpod_lite.difficulty import token_steps
from kpod_lite.distill import split_at_step, target_token_weights
from kpod_lite.families import family_of
from kpod_lite.models import standins, tiny_spec
from kpod_lite.models.tiny import tiny_model_config
from kpod_lite.templates import encode_student_example, format_rationale_target, rationale_tokens
from kpod_lite.weighting.tokens import matching_rationale_tokens




def _tokens(tokenizer, text, **kwargs):
    return tokenizer.convert_ids_to_tokens(tokenizer(text, **kwargs)["input_ids"])


def test_the_t5_standin_loads_as_flan_t5s_class_with_its_special_tokens(t5):
    assert isinstance(t5, T5TokenizerFast)
    assert (t5.pad_token_id, t5.eos_token_id, t5.unk_token_id, t5.bos_token_id) == (0, 1, 2, None)
    assert _tokens(t5, "Ben has 12 eggs.")[-1] == "</s>", "T5 closes every sequence with </s>"
    assert _tokens(t5, "Ben has 12 eggs.", add_special_tokens=False)[0].startswith("▁"), "the dummy prefix"
    assert sum(token.startswith("<extra_id_") for token in t5.get_vocab()) == standins.STANDIN_SENTINELS
    # FlanT5's vocabulary lacks these: each becomes <unk> (id 2), as with the real one.
    for character in sorted(standins.T5_MISSING_CHARACTERS):
        assert t5.unk_token_id in t5(f"3 {character} 4", add_special_tokens=False)["input_ids"], character
    assert t5.unk_token_id not in t5("12 + 17 = 29 - 5 * 2 / 1", add_special_tokens=False)["input_ids"]
    # T5's normaliser: a newline is whitespace (the §3.1 prompt "Q: x\nA: ..." has one).
    assert t5("Q: x\nA: y")["input_ids"] == t5("Q: x A: y")["input_ids"]


def test_the_llama_standin_loads_as_llamas_class_with_byte_fallback(llama):
    assert isinstance(llama, LlamaTokenizerFast)
    assert (llama.unk_token_id, llama.bos_token_id, llama.eos_token_id, llama.pad_token_id) == (0, 1, 2, None)
    assert _tokens(llama, "Ben has 12 eggs.")[0] == "<s>", "LLaMA opens every sequence with <s>"
    assert _tokens(llama, "12", add_special_tokens=False) == ["▁", "1", "2"], "digits split one by one"
    text = "5 − 3 ÷ 2 = {x} “y”"
    ids = llama(text, add_special_tokens=False)["input_ids"]
    assert llama.unk_token_id not in ids and "<0xC3>" in llama.convert_ids_to_tokens(ids), "÷ as its UTF-8 bytes"
    assert llama.decode(ids) == text


def test_a_standin_is_built_once_into_its_cache_folder(tmp_path):
    first = standins.build_t5_standin_tokenizer(tmp_path)
    stamp = os.stat(first / "tokenizer.json").st_mtime_ns
    (tmp_path / f".{first.name}.tmp-leftover").mkdir()  # as a killed build leaves it
    assert standins.build_t5_standin_tokenizer(tmp_path) == first
    assert os.stat(first / "tokenizer.json").st_mtime_ns == stamp, "reused, not rebuilt"
    assert {p.name for p in first.iterdir()} >= {"spiece.model", "tokenizer.json", "tokenizer_config.json"}
    with pytest.raises(ValueError, match="'t5' and 'llama'"):
        standins.standin_tokenizer_path("gpt2", tmp_path)


def test_the_spm_twins_are_registered_tiny_students_with_the_standin_vocabularies(t5, llama):
    for name, tokenizer in (("tiny-t5-spm", t5), ("tiny-llama-spm", llama)):
        spec = tiny_spec(name)
        assert spec.tokenizer == "spm"
        config = tiny_model_config(spec, len(tokenizer), tokenizer)
        assert config.vocab_size == len(tokenizer)
        assert family_of(config).seq2seq == (spec.model_type == "t5")


# --- which rationale token a target token is (Eq. 15) --------------------------------------------


def test_a_span_shared_by_a_marker_and_its_piece_goes_to_the_piece():
    # "▁12 ▁ + ▁17": the lone "▁" and "+" both cover character 3.
    rationale = [(0, 2), (3, 4), (3, 4), (5, 7)]
    assert matching_rationale_tokens(rationale, [(0, 2), (3, 4), (3, 4), (5, 7)]) == [0, 1, 2, 3]
    # A wider span that covers "+" (a target tokenised differently): the piece owns it, not "▁".
    assert matching_rationale_tokens(rationale, [(2, 4)]) == [2]
    # Three byte pieces of one character, in order; a longer run keeps the last.
    assert matching_rationale_tokens([(0, 1), (0, 1), (0, 1)], [(0, 1)] * 4) == [0, 1, 2, 2]
    # Equal character counts go to the later token; nothing covered gives None.
    assert matching_rationale_tokens([(0, 2), (2, 4)], [(1, 3), (9, 10), (5, 5)]) == [1, None, None]


def _weighted_rationales(count: int = 40):
    """Synthetic teacher rationales (the template teacher's words) with a distinct w_j per token."""
    problems = synthetic.generate_dataset(count, seed=3)
    rng = random.Random(0)
    return [(p.rationale, p.answer, [round(rng.random(), 6) for _ in range(400)]) for p in problems]


def test_eq15_gives_each_target_token_the_weight_of_the_same_token_that_eq3_and_eq8_saw(t5):
    """Fails with the first-covering-token rule: the "+" after a lone "▁" took the "▁"'s weight."""
    family = family_of(tiny_model_config(tiny_spec("tiny-t5-spm"), len(t5), t5))
    lone_markers = checked = 0
    for rationale, answer, draws in _weighted_rationales():
        ids, offsets = rationale_tokens(t5, rationale)
        record = {"offsets": [list(o) for o in offsets], "weights": draws[:len(ids)]}
        steps = token_steps(offsets, rationale)  # Eq. 8's p_k..q_k, on the same tokens
        lone_markers += sum(t5.convert_ids_to_tokens(i) == "▁" for i in ids)
        for c in range(len(set(steps)) + 1):
            _, offset = split_at_step(rationale, c)
            remaining = rationale[offset:].strip()
            example = encode_student_example(t5, family, "Q: x", format_rationale_target(remaining, answer))
            weights = target_token_weights(example.target_offsets, offset, len(remaining), record)
            for j, (token, (start, end)) in enumerate(zip(example.target_ids, example.target_offsets)):
                if start >= len(remaining) or end == start:
                    assert weights[j] == 1.0, "the answer sentence and </s> keep weight 1 (Eq. 1)"
                    continue
                # The rationale token at the same place with the same id: its w_j, its step.
                (k,) = [k for k, o in enumerate(offsets) if o == (offset + start, offset + end) and ids[k] == token]
                assert weights[j] == record["weights"][k], (
                    f"target token {t5.convert_ids_to_tokens(token)!r} at {start}:{end} of stage c={c} got the "
                    f"weight of another token")
                assert steps[k] >= c, "a target token is in a step the student must write (Eq. 14)"
                checked += 1
    assert lone_markers > 50 and checked > 1000, "the text must hold the lone '▁' pieces the rule is about"


# --- the whole pipeline on each stand-in (small) -------------------------------------------------


def _small(cfg):
    return cfg.replace(weighting_predictor=None, ood=(), epochs=2, weighting_epochs=1,
                       weighting_predictor_warmup_steps=2, max_new_tokens=16, eval_batch_size=8)


def test_the_pipeline_runs_on_the_t5_standin_from_a_gsm8k_file_typeset_by_a_teacher(tmp_path):
    """Worked solutions in GSM8K's format, typeset with ÷, ×, − (as LLM teachers write them):
    the T5 stand-in has no piece for those, so the rationales the student learns are rewritten."""
    typeset = str.maketrans({"/": "÷", "*": "×", "-": "−"})
    problems = synthetic.generate_dataset(8, seed=5, config=synthetic.SyntheticConfig(ops=("*", "/", "-")))
    lines = [{"question": p.question, "answer": f"{p.rationale.translate(typeset)}\n#### {p.answer}"} for p in problems]
    source = tmp_path / "gsm8k.jsonl"
    source.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    cfg = _small(preset("tiny").replace(student="tiny-t5-spm", dataset="gsm8k", data_format="gsm8k", teacher="gold",
                                        train_file=str(source), test_file=str(source)))
    run = tmp_path / "run"
    pipeline.run(cfg, run)
    report = json.loads((run / "rationales.symbols.json").read_text())
    assert report["replaced"] and report["unk_tokens_before"] > 0 and report["unk_tokens_after"] == 0
    tokenizer = AutoTokenizer.from_pretrained(standins.build_t5_standin_tokenizer())
    rationales = [r for _, r in data.read_jsonl(run / "rationales.jsonl")]
    assert rationales and all(tokenizer.unk_token_id not in rationale_tokens(tokenizer, r["rationale"])[0]
                              for r in rationales), "no <unk> in what the student learns to write"
    weights = [r for _, r in data.read_jsonl(run / "weights.jsonl")]
    assert any(token == "▁" for r in weights for token in r["tokens"]), "the stand-in's own pieces"
    history = json.loads((pipeline.student_dir(run, cfg.method, cfg.seed) / "history.json").read_text())
    assert history["history"][-1]["target_tokens"] > 0
    assert json.loads((pipeline.student_dir(run, cfg.method, cfg.seed) / "eval.json").read_text())["test"]["questions"] == 8


def test_the_pipeline_runs_on_the_llama_standin_on_synthetic_questions(tmp_path):
    cfg = _small(preset("tiny").replace(student="tiny-llama-spm", train_size=8, validation_size=0, test_size=2))
    pipeline.run(cfg, tmp_path)
    report = json.loads((tmp_path / "rationales.symbols.json").read_text())
    assert report["texts"] > 0 and not report["replaced"] and not report["unknown"], "byte fallback knows all"
    weights = [r for _, r in data.read_jsonl(tmp_path / "weights.jsonl")]
    assert weights and all(r["tokens"][0].startswith("▁") for r in weights), "LLaMA's dummy prefix"
    assert json.loads((pipeline.student_dir(tmp_path, cfg.method, cfg.seed) / "eval.json").read_text())["test"]
