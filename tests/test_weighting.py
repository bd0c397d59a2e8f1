"""Tests for kpod_lite.weighting: rationale token weighting by mask learning (§3.3, Eq. 2-7)."""

import copy
import json
import math

import pytest
import torch

from kpod_lite.config import ConfigError, preset
from kpod_lite.data import read_jsonl, write_jsonl
from kpod_lite.models import load_student
from kpod_lite.synthetic import KEYPOINT_LABELS, generate_dataset
from kpod_lite.templates import format_rationale_target, rationale_tokens
from kpod_lite.weighting import (
    WeightCollapseWarning,
    _Embedder,
    _training_items,
    answer_prediction_loss,
    apply_mask,
    build_weighter,
    collapse_state,
    gumbel_mask,
    keypoint_auroc,
    keypoint_loss,
    mask_ratio_loss,
    mask_token_id,
    prefix_lengths,
    weighting_batch_size,
    weighting_max_tokens,
    token_classes,
    token_weights,
    train_weighter,
    training_step,
    weigh,
    weigh_file,
)

# A short run: two warm-up steps, one or two epochs on a handful of rationales.
FAST = {"weighting_predictor_warmup_steps": 2, "weighting_batch_size": 4}


def fast_config(**changes):
    return preset("tiny", **{"student": "tiny-t5", "weighting_epochs": 1, **FAST, **changes})


@pytest.fixture(scope="module")
def tiny():
    # The seq2seq student: its target is the rationale itself, so token ids must agree exactly.
    model, tokenizer = load_student(preset("tiny", student="tiny-t5"), device="cpu")
    return model, tokenizer


@pytest.fixture(scope="module")
def records():
    """Synthetic rationale records with character labels, as the template teacher writes them."""
    return [{"id": p.id, "sample": 0, "question": p.question, "answer": p.answer, "rationale": p.rationale,
             "spans": [[s.start, s.end, s.label] for s in p.spans]} for p in generate_dataset(12, seed=7)]


@pytest.fixture(scope="module")
def tiny_llama(tiny):
    """A small random causal predictor on the student's vocabulary (for the causal path of Eq. 5)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    _, tokenizer = tiny
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512)
    return LlamaForCausalLM(config).eval()


# --- Eq. 2-3: weight generation ---------------------------------------------------------------------


def test_weights_are_probabilities_and_ignore_padding_eq3(tiny):
    model, _ = tiny
    weighter = build_weighter(model, preset("tiny")).eval()
    ids = torch.tensor([[5, 6, 7, 8], [5, 6, 7, 0]])
    attention = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    with torch.no_grad():
        w = weighter.weights(ids, attention)
        alone = weighter.weights(ids[1:, :3], attention[1:, :3])
    assert w.shape == (2, 4)
    assert bool(((w > 0) & (w < 1)).all())  # Eq. 3: σ(.) is a probability of being kept
    # Eq. 2's attention must not look at padding: the padded row equals the row alone.
    assert torch.allclose(w[1, :3], alone[0], atol=1e-6)


def test_weighter_copies_the_student_embeddings_frozen_app_a(tiny):
    model, _ = tiny
    weighter = build_weighter(model, preset("tiny"))
    student_table = model.get_input_embeddings().weight
    assert torch.equal(weighter.embed.weight, student_table)  # App. A: same tokenizer, same Emb
    assert weighter.embed.weight.data_ptr() != student_table.data_ptr()  # a copy, not shared
    assert not weighter.embed.weight.requires_grad  # frozen by default
    trainable = build_weighter(model, fast_config(weighting_train_embeddings=True))
    assert trainable.embed.weight.requires_grad


def test_weighter_init_is_seeded_eq2(tiny):
    model, _ = tiny
    a, b = build_weighter(model, preset("tiny", seed=3)), build_weighter(model, preset("tiny", seed=3))
    c = build_weighter(model, preset("tiny", seed=4))
    assert torch.equal(a.f_w[0].weight, b.f_w[0].weight)
    assert not torch.equal(a.f_w[0].weight, c.f_w[0].weight)


# --- Eq. 4: Gumbel-softmax masks -----------------------------------------------------------------------


def test_binary_concrete_keeps_token_with_probability_w_eq4():
    logits = torch.tensor([-2.0, 0.0, 1.5]).repeat(20000, 1)
    m = gumbel_mask(logits, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert bool(((m >= 0) & (m <= 1)).all())
    kept = (m > 0.5).float().mean(0)
    assert torch.allclose(kept, torch.sigmoid(logits[0]), atol=0.015)  # P(m_j > 1/2) = w_j
    again = gumbel_mask(logits, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(m, again)  # seeded


def test_low_temperature_is_nearly_binary_eq4():
    logits = torch.zeros(5000)
    cold = gumbel_mask(logits, 0.05, generator=torch.Generator().manual_seed(1))
    warm = gumbel_mask(logits, 2.0, generator=torch.Generator().manual_seed(1))
    middle = lambda m: float(((m > 0.1) & (m < 0.9)).float().mean())  # noqa: E731
    assert middle(cold) < 0.1 < middle(warm)


def test_straight_through_is_binary_with_gradient_eq4():
    logits = torch.linspace(-3, 3, 50, requires_grad=True)
    m = gumbel_mask(logits, 0.5, hard=True, generator=torch.Generator().manual_seed(2))
    assert set(m.detach().unique().tolist()) <= {0.0, 1.0}
    m.sum().backward()
    assert logits.grad.abs().sum() > 0


def test_mask_mixes_embeddings_eq4():
    e = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    e_mask = torch.tensor([10.0, 20.0])
    out = apply_mask(e, torch.tensor([1.0, 0.0]), e_mask)
    assert torch.equal(out, torch.tensor([[1.0, 2.0], [10.0, 20.0]]))  # kept, masked


def test_mask_token_is_t5_sentinel(tiny):
    _, tokenizer = tiny
    assert mask_token_id(tokenizer) == tokenizer.convert_tokens_to_ids("<extra_id_0>")


# --- Eq. 5: prefixes and the answer prediction loss ----------------------------------------------------


def test_prefix_lengths_eq5(tiny):
    _, tokenizer = tiny
    text = "Ana has 3 eggs. She buys 4 more: 3 + 4 = 7 eggs. So 7."
    ids, offsets = rationale_tokens(tokenizer, text)
    n = len(ids)
    assert prefix_lengths(offsets, text, "all") == list(range(1, n + 1))
    steps = prefix_lengths(offsets, text, "steps")
    assert len(steps) == 3 and steps[-1] == n
    # Each step prefix ends right after a "." token (§3.4 boundaries).
    assert all(tokenizer.decode(ids[:k]).endswith(".") for k in steps)
    no_dot = "3 + 4 = 7 and then nothing"
    no_dot_ids, no_dot_offsets = rationale_tokens(tokenizer, no_dot)
    assert prefix_lengths(no_dot_offsets, no_dot, "steps") == [len(no_dot_ids)]
    assert prefix_lengths([], "", "steps") == [] and prefix_lengths([], "", "all") == []
    with pytest.raises(ValueError):
        prefix_lengths(offsets, text, "some")


@pytest.mark.parametrize("family", ["t5", "llama"])
def test_batched_prefixes_equal_one_at_a_time_eq5(tiny, tiny_llama, records, family):
    model, tokenizer = tiny
    predictor = copy.deepcopy(model).eval() if family == "t5" else tiny_llama
    embedder = _Embedder(predictor, tokenizer)
    items = _training_items(records[:2], tokenizer, fast_config())
    rationales = [embedder(item["ids"]) for item in items]
    prefixes = [[3, 9, len(items[0]["ids"])], [5]]
    with torch.no_grad():
        batched = embedder.loss(predictor, items, rationales, prefixes)
        single = [sum(float(embedder.loss(predictor, [item], [r], [[k]])[0]) for k in ks) / len(ks)
                  for item, r, ks in zip(items, rationales, prefixes)]
    # Padding and batching change nothing: Eq. 5 / |K| per rationale, prefix by prefix.
    assert batched.tolist() == pytest.approx(single, abs=1e-4)


def test_answer_loss_is_summed_over_answer_tokens_eq5(tiny):
    model, tokenizer = tiny
    predictor = copy.deepcopy(model).eval()
    q, r = torch.randn(4, 128), torch.randn(6, 128)
    with torch.no_grad():
        one = answer_prediction_loss(predictor, [q], [r], [[6]], [[7]])[0]
        two = answer_prediction_loss(predictor, [q], [r], [[6]], [[7, 8]])[0]
    assert float(two) > float(one) > 0  # a longer answer adds its tokens' NLL (a sum, Eq. 5)
    assert float(answer_prediction_loss(predictor, [q], [r], [[]], [[7]])[0]) == 0.0


@pytest.mark.parametrize("family", ["t5", "llama"])
def test_answer_loss_alone_trains_the_weight_generator_eq4_eq5(tiny, tiny_llama, records, family):
    """The mask acts on embeddings, so L_p (Eq. 5) alone sends gradient to f_w (Eq. 3)."""
    model, tokenizer = tiny
    predictor = copy.deepcopy(model) if family == "t5" else copy.deepcopy(tiny_llama)
    config = fast_config()
    weighter = build_weighter(model, config)
    embedder = _Embedder(predictor, tokenizer)
    items = _training_items(records[:3], tokenizer, config)
    parts = training_step(weighter, predictor, embedder, items, config.replace(alpha=0.0),
                          torch.Generator().manual_seed(0), __import__("random").Random(0))
    assert float(parts["loss"].detach()) == pytest.approx(float(parts["answer_loss"].detach()))  # α = 0: L_k = L_p
    parts["loss"].backward()
    for layer in (weighter.f_w[0], weighter.f_w[2]):
        assert layer.weight.grad is not None and float(layer.weight.grad.abs().sum()) > 0
    assert float(weighter.attention.in_proj_weight.grad.abs().sum()) > 0  # Att (Eq. 2) too


def test_swapping_token_ids_would_cut_the_gradient(tiny, records):
    """The known bug this module avoids: masking by replacing ids leaves f_w without gradient."""
    model, tokenizer = tiny
    predictor = copy.deepcopy(model)
    weighter = build_weighter(model, fast_config())
    ids = torch.tensor([rationale_tokens(tokenizer, records[0]["rationale"])[0]])
    keep = gumbel_mask(weighter(ids, torch.ones_like(ids)), 0.5, hard=True) > 0.5
    masked_ids = torch.where(keep, ids, torch.tensor(mask_token_id(tokenizer)))
    predictor(input_ids=masked_ids, labels=torch.tensor([[7, 1]])).loss.backward()
    assert weighter.f_w[0].weight.grad is None


# --- Eq. 6-7: mask ratio and the total loss ------------------------------------------------------------


def test_mask_ratio_is_the_kept_fraction_eq6():
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.5], [0.2, 0.4, 0.0, 0.0]])
    attention = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    assert mask_ratio_loss(mask, attention).tolist() == pytest.approx([2.5 / 4, 0.3])  # Eq. 6 / n
    # Length does not change its scale: the same mask pattern repeated gives the same L_m.
    doubled = mask_ratio_loss(mask[:1].repeat(1, 2), attention[:1].repeat(1, 2))
    assert float(doubled[0]) == pytest.approx(2.5 / 4)
    assert float(mask_ratio_loss(torch.zeros(1, 3), torch.zeros(1, 3, dtype=torch.long))[0]) == 0.0


def test_keypoint_loss_eq7():
    answer, ratio = torch.tensor([2.0, 4.0]), torch.tensor([0.5, 1.0])
    assert float(keypoint_loss(answer, ratio, 0.5)) == pytest.approx(((2 + 0.25) + (4 + 0.5)) / 2)
    # In "all" mode (|K| = n) each rationale's term is Eq. 7 divided by n: L_p_sum/n + α Σm/n.
    n, lp_sum, m_sum = 4, 8.0, 2.0
    assert float(keypoint_loss(torch.tensor([lp_sum / n]), torch.tensor([m_sum / n]), 0.5)) == pytest.approx(
        (lp_sum + 0.5 * m_sum) / n)


# --- the student's tokens --------------------------------------------------------------------------------


RATIONALES = [
    "First, 12 + 17 = 29 magazines. Then 29 - 20 = 9 magazines.",
    "  leading and trailing spaces: 3 * 4 = 12.  ",
    "Zoë paid 5 € for crème brûlée, 3 + 2 = 5.",
    "没有句号的推理 3 + 4 = 7",
    "ends with a digit 8",
]


@pytest.mark.parametrize("rationale", RATIONALES)
def test_rationale_tokens_are_the_student_target_prefix(tiny, rationale):
    _, tokenizer = tiny
    ids, offsets = rationale_tokens(tokenizer, rationale)
    target = format_rationale_target(rationale, "42")
    assert tokenizer(target, add_special_tokens=False)["input_ids"][:len(ids)] == ids
    assert tokenizer(target)["input_ids"][:len(ids)] == ids  # with eos appended: no drift either
    # Offsets index the original string, and the tokens give the (stripped) text back.
    assert tokenizer.decode(ids) == rationale.strip()
    assert offsets[0][0] == len(rationale) - len(rationale.lstrip())
    assert offsets[-1][1] == len(rationale.rstrip())


def test_non_ascii_characters_become_byte_tokens(tiny):
    _, tokenizer = tiny
    ids, offsets = rationale_tokens(tokenizer, "é")
    assert len(ids) == 2 and offsets == [(0, 1), (0, 1)]  # two UTF-8 bytes, one character
    assert tokenizer.unk_token_id not in ids


# --- bad input ---------------------------------------------------------------------------------------------


def test_empty_rationale_gives_no_tokens_and_no_weights(tiny, records):
    model, tokenizer = tiny
    weighter = build_weighter(model, preset("tiny"))
    empty = [{"id": "e", "rationale": ""}, {"id": "w", "rationale": "   ", "sample": 2}]
    out = weigh(empty, weighter, tokenizer)
    assert out == [{"id": "e", "sample": 0, "tokens": [], "offsets": [], "weights": []},
                   {"id": "w", "sample": 2, "tokens": [], "offsets": [], "weights": []}]
    with pytest.warns(WeightCollapseWarning, match="no non-empty rationale"):
        _, history = train_weighter([{**records[0], "rationale": ""}], fast_config(),
                                    student=model, tokenizer=tokenizer)
    assert history["skipped_empty"] == 1 and history["epochs"] == []


def test_long_rationale_is_cut_in_training_but_fully_weighed(tiny, records):
    model, tokenizer = tiny
    config = fast_config(weighting_max_tokens=32)
    long = {**records[0], "rationale": " ".join(["Then 12 + 17 = 29 apples."] * 12)}
    n = len(rationale_tokens(tokenizer, long["rationale"])[0])
    assert n > 3 * 32
    items = _training_items([long], tokenizer, config)
    assert len(items[0]["ids"]) == 32 and items[0]["ks"][-1] == 32  # first N tokens only
    weighter, _ = train_weighter([long, records[1]], config, student=model, tokenizer=tokenizer)
    ids = rationale_tokens(tokenizer, long["rationale"])[0]
    w = token_weights(weighter, ids, 32)
    assert len(w) == n and all(0 < x < 1 for x in w)  # a weight for every token
    # The sliding-window policy: the first half-window is seen by the first window only.
    first = token_weights(weighter, ids[:32], 32)
    assert w[:16] == pytest.approx(first[:16], abs=1e-6)
    out = weigh([long], weighter, tokenizer, max_tokens=32)[0]
    assert len(out["tokens"]) == len(out["weights"]) == len(out["offsets"]) == n


def test_rationale_without_a_step_boundary_trains(tiny, records):
    model, tokenizer = tiny
    one_step = {**records[0], "rationale": "12 + 17 = 29 and 29 - 20 = 9"}
    items = _training_items([one_step], tokenizer, fast_config())
    assert items[0]["ks"] == [len(items[0]["ids"])]  # one step, one prefix
    weighter, history = train_weighter([one_step], fast_config(), student=model, tokenizer=tokenizer)
    assert history["rationales"] == 1
    assert len(weigh([one_step], weighter, tokenizer)[0]["weights"]) == len(items[0]["ids"])


# --- training ------------------------------------------------------------------------------------------------


def test_training_is_deterministic_and_logs_each_epoch(tiny, records):
    model, tokenizer = tiny
    config = fast_config(weighting_epochs=2)
    runs = [train_weighter(records[:8], config, student=model, tokenizer=tokenizer) for _ in range(2)]
    other, _ = train_weighter(records[:8], config.replace(seed=1), student=model, tokenizer=tokenizer)
    weights = [weigh(records[8:], w, tokenizer) for w in (runs[0][0], runs[1][0], other)]
    assert weights[0] == weights[1]
    assert weights[0] != weights[2]
    history = runs[0][1]
    assert [e["epoch"] for e in history["epochs"]] == [1, 2]
    for entry in history["epochs"]:
        assert 0 < entry["mask_ratio"] < 1 and entry["answer_loss"] > 0
        assert entry["loss"] == pytest.approx(entry["answer_loss"] + config.alpha * entry["mask_ratio"], rel=1e-3)
    assert len(history["predictor_warmup"]) == 1  # two warm-up steps, averaged per 25
    # The student itself is untouched: the predictor is a copy.
    fresh, _ = load_student(preset("tiny", student="tiny-t5"), device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))


def test_collapse_is_detected_and_warned(tiny, records):
    assert collapse_state(0.01) == "all masked"
    assert collapse_state(0.99) == "none masked"
    assert collapse_state(0.5) is None
    model, tokenizer = tiny
    # A huge α makes L_m win: every token masked.
    config = fast_config(alpha=1000.0, weighting_lr=0.05, weighting_epochs=3)
    with pytest.warns(WeightCollapseWarning, match="every token masked.*Lower alpha"):
        _, history = train_weighter(records[:8], config, student=model, tokenizer=tokenizer)
    assert history["collapse"] == "all masked"


def test_unset_weighting_sizes_follow_the_distillation_ones():
    config = preset("tiny", weighting_batch_size=None)
    assert weighting_batch_size(config) == config.batch_size
    assert weighting_max_tokens(config) == config.max_target_length
    assert weighting_batch_size(config.replace(weighting_batch_size=3)) == 3
    with pytest.raises(ConfigError, match="did you mean 'weighting_predictor_warmup_steps'"):
        config.replace(weighting_predictor_warmup=10)


def test_predictor_must_share_the_vocabulary(tiny):
    from kpod_lite.weighting import load_predictor

    model, tokenizer = tiny
    # Without a named predictor, Eq. 5's transformer is a copy of the student (the paper's setting).
    copied = load_predictor(preset("tiny", weighting_predictor=None), model, tokenizer)
    assert copied is not model and torch.equal(copied.lm_head.weight, model.lm_head.weight)

    class OtherVocabulary:
        def get_vocab(self):
            return {"a": 0}

    # A named predictor (here the tiny T5 for some other student) must match the vocabulary.
    config = preset("tiny", student="some/other-student", weighting_predictor="tiny-t5")
    with pytest.raises(ValueError, match="vocabulary"):
        load_predictor(config, model, OtherVocabulary())


# --- output and evidence ----------------------------------------------------------------------------------------


def test_weigh_file_round_trip(tiny, records, tmp_path):
    rationales = tmp_path / "rationales.jsonl"
    write_jsonl(rationales, records[:6] + [{**records[6], "rationale": ""}])
    out = tmp_path / "weights.jsonl"
    summary = weigh_file(rationales, out, fast_config())
    written = [r for _, r in read_jsonl(out)]
    assert summary["rationales"] == 7 and summary["tokens"] == sum(len(r["weights"]) for r in written)
    assert set(written[0]) == {"id", "sample", "tokens", "offsets", "weights"}
    _, tokenizer = tiny
    for record, source in zip(written, records[:6]):
        ids, offsets = rationale_tokens(tokenizer, source["rationale"])
        assert record["tokens"] == tokenizer.convert_ids_to_tokens(ids)
        assert [tuple(o) for o in record["offsets"]] == offsets
        assert len(record["weights"]) == len(ids)
    assert written[-1]["weights"] == [] and summary["history"]["skipped_empty"] == 1
    json.dumps(summary)  # the CLI prints it


def test_token_classes_follow_character_labels(tiny):
    _, tokenizer = tiny
    text = "Okay, 3 + 4 = 7."
    spans = [[0, 5, "filler"], [5, 6, "plain"], [6, 7, "number"], [7, 8, "plain"], [8, 9, "operator"],
             [9, 10, "plain"], [10, 11, "number"], [11, 12, "plain"], [12, 13, "equals"], [13, 14, "plain"],
             [14, 15, "result"], [15, 16, "plain"]]
    ids, offsets = rationale_tokens(tokenizer, text)
    classes = token_classes(offsets, spans, text)
    labelled = {tokenizer.decode([i]).strip(): c for i, c in zip(ids, classes) if c}
    assert labelled["+"] == "operator" and labelled["="] == "equals" and labelled["7"] == "result"
    assert labelled["3"] == "number" and labelled["."] == "plain"
    assert classes.count(None) == sum(1 for i in ids if tokenizer.decode([i]).isspace())


def test_a_sentencepiece_marker_is_not_scored_as_the_keypoint_it_shares_a_span_with():
    """SentencePiece's lone "▁" before "+" has the span of the "+" (offsets below, as the T5
    stand-in gives them): the "+" owns those characters, the marker is left out of the AUROC."""
    text = "3 + 4"
    spans = [[0, 1, "number"], [1, 2, "plain"], [2, 3, "operator"], [3, 4, "plain"], [4, 5, "number"]]
    offsets = [(0, 1), (2, 3), (2, 3), (4, 5)]  # "▁3", "▁", "+", "▁4"
    assert token_classes(offsets, spans, text) == ["number", None, "operator", "number"]


def test_keypoint_auroc_of_oracle_and_inverted_weights(tiny, records):
    _, tokenizer = tiny
    oracle, inverted = [], []
    for record in records:
        ids, offsets = rationale_tokens(tokenizer, record["rationale"])
        keypoint = [c in KEYPOINT_LABELS for c in token_classes(offsets, record["spans"], record["rationale"])]
        base = {"id": record["id"], "sample": 0, "tokens": [], "offsets": [list(o) for o in offsets]}
        oracle.append({**base, "weights": [0.9 if k else 0.1 for k in keypoint]})
        inverted.append({**base, "weights": [0.1 if k else 0.9 for k in keypoint]})
    good, bad = keypoint_auroc(oracle, records), keypoint_auroc(inverted, records)
    assert good["auroc_keypoint_vs_filler"] == 1.0 and good["auroc_keypoint_vs_rest"] == 1.0
    assert bad["auroc_keypoint_vs_filler"] == 0.0
    assert good["mean_weight"]["filler"] == pytest.approx(0.1) and good["mean_weight"]["number"] == pytest.approx(0.9)
    assert good["tokens"]["filler"] > 0 and set(good["tokens"]) >= {"number", "result", "operator", "equals", "filler"}
    with pytest.raises(ValueError, match="spans"):
        keypoint_auroc(oracle, [{k: v for k, v in r.items() if k != "spans"} for r in records])


def test_weights_flow_into_weigh_records_in_order(tiny, records):
    model, tokenizer = tiny
    weighter = build_weighter(model, preset("tiny")).eval()
    out = weigh(records[:2], weighter, tokenizer)
    ids = rationale_tokens(tokenizer, records[1]["rationale"])[0]
    with torch.no_grad():
        direct = weighter.weights(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0]
    assert out[1]["weights"] == pytest.approx(direct.tolist(), abs=1e-5)
    assert out[1]["id"] == records[1]["id"] and not math.isnan(sum(out[1]["weights"]))


@pytest.mark.parametrize("name, dtype", [("tiny-t5", torch.float32), ("tiny-llama", torch.bfloat16)])
def test_a_lora_students_predictor_is_the_student_with_adapters_of_its_own(name, dtype, records):
    """With LoRA (App. A) the Eq. 5 predictor is no second copy: LoRA adapters on the frozen
    student, trained with θ^w (Eq. 7), and taken out again, leaving the student as loaded; a
    bfloat16 student (a GPU's) stays bfloat16, its masked inputs too."""
    from kpod_lite.weighting import load_predictor

    config = fast_config(student=name, weighting_predictor=None, lora=True, lora_rank=4, lora_alpha=8)
    student, tokenizer = load_student(config, device="cpu")
    student = student.to(dtype)
    before = {key: value.clone() for key, value in student.state_dict().items()}
    predictor = load_predictor(config, student, tokenizer)
    assert predictor.get_base_model() is student
    trainable = {n for n, p in predictor.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable), "only the adapters learn"
    predictor.unload()
    student.requires_grad_(True)  # unload leaves the base frozen; train_weighter must not
    _, history = train_weighter(records[:4], config, student=student, tokenizer=tokenizer)
    assert history["predictor_warmup"] and history["epochs"]
    after = student.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    assert not any("lora_" in n for n, _ in student.named_modules())
    assert all(p.requires_grad for p in student.parameters()), "the student trains again, as loaded"


@pytest.mark.parametrize("name", ["tiny-t5", "tiny-llama"])
def test_scoring_the_answer_positions_alone_gives_the_same_eq5_loss(name, records):
    """`answers_only` (the LoRA predictors' memory-lean path) computes Eq. 5 from the logits of
    the answer positions only; up to rounding it is the loss of the full logits."""
    config = fast_config(student=name)
    model, tokenizer = load_student(config, device="cpu")
    items = _training_items(records[:3], tokenizer, config)
    full, lean = _Embedder(model, tokenizer), _Embedder(model, tokenizer, answers_only=True)
    rationales = [full(item["ids"]) for item in items]
    prefixes = [item["ks"] for item in items]
    with torch.no_grad():
        expected = full.loss(model.eval(), items, rationales, prefixes)
        got = lean.loss(model, items, rationales, prefixes)
    assert expected.shape == (3,) and torch.allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_mask_learning_killed_in_an_epoch_resumes_to_the_same_weights(tiny, records, tmp_path, monkeypatch):
    """A run killed in epoch 2 reruns from the state after epoch 1 and ends with the
    weighter an uninterrupted run ends with, bit for bit; a state for other data is refused."""
    from kpod_lite.config import ConfigError
    from kpod_lite.weighting import training

    model, tokenizer = tiny
    config = fast_config(weighting_epochs=3)
    straight, history = train_weighter(records[:8], config, student=model, tokenizer=tokenizer)

    checkpoint = tmp_path / "weights.jsonl.checkpoint.pt"
    real_epoch, calls = training._training_epoch, []

    def killed_in_epoch_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(training, "_training_epoch", killed_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train_weighter(records[:8], config, student=model, tokenizer=tokenizer, checkpoint=checkpoint)
    monkeypatch.setattr(training, "_training_epoch", real_epoch)
    assert torch.load(checkpoint, weights_only=True)["epochs_done"] == 1
    resumed, resumed_history = train_weighter(records[:8], config, student=model, tokenizer=tokenizer,
                                              checkpoint=checkpoint)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert [e["loss"] for e in resumed_history["epochs"]] == [e["loss"] for e in history["epochs"]]
    with pytest.raises(ConfigError, match="other rationales or settings; delete it"):
        train_weighter(records[:7], config, student=model, tokenizer=tokenizer, checkpoint=checkpoint)
