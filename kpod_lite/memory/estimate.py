"""The estimate itself (the package docstring says what it adds up): a student's shape, the bytes
autograd saves per token and layer, and one function per GPU stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.families import family_of, lora_target_modules
from kpod_lite.models.published import held_parameters
from kpod_lite.weighting.sizes import weighting_batch_size, weighting_max_tokens

GPU_STAGES = ("weigh", "difficulty", "distill", "evaluate")
SLACK_FACTOR, SLACK_BYTES = 1.10, 512 * 2 ** 20  # kpod_lite.memory docstring
STEPS_PER_RATIONALE = 8  # ours: prefixes per rationale in prefix_mode "steps" (the kpod_lite.memory docstring)
TRIGGER_TOKENS, ANSWER_TOKENS = 8, 8  # ours: " Therefore, the answer is" and " <y></s>", rounded up
GiB, MiB = 2 ** 30, 2 ** 20


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a student that memory depends on, read from its model config."""

    seq2seq: bool
    hidden: int
    ffn: int
    heads: int
    q_dim: int  # heads x head size
    kv_dim: int  # key (= value) heads x head size
    layers: int  # decoder layers (causal) or each stack's (seq2seq: encoder = decoder here)
    decoder_layers: int
    vocab: int
    ffn_saved: int  # d_ff-sized tensors the activation saves (SiLU gate: 3; tanh-GELU: 6)
    dropout: float  # residual and attention dropout in training (T5: dropout_rate)
    eager_attention: bool
    parameters: int
    modules: dict = field(default_factory=dict)  # LoRA-able linear name -> (in, out, per layer kinds)


_COUNTS: dict[str, tuple[int, tuple]] = {}  # config JSON -> _count(config): a 7B meta build takes seconds


def _count(model_config) -> tuple[int, tuple]:
    """(parameters, ((linear name suffix, in, out, count), ...)) of a model built on the meta device."""
    key = model_config.to_json_string(use_diff=False)
    if key not in _COUNTS:
        with torch.device("meta"):
            model = family_of(model_config).model_class.from_config(model_config)
        linears: dict[tuple, int] = {}
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and name != "lm_head":
                k = (name.rsplit(".", 1)[-1], module.in_features, module.out_features)
                linears[k] = linears.get(k, 0) + 1
        _COUNTS[key] = (held_parameters(model), tuple((*k, n) for k, n in linears.items()))
    return _COUNTS[key]


def model_shape(model_config) -> ModelShape:
    """The `ModelShape` of a T5-style (seq2seq) or LLaMA-style (causal) model config."""
    params, linears = _count(model_config)
    modules = {name: (n_in, n_out, count) for name, n_in, n_out, count in linears}
    attn = getattr(model_config, "_attn_implementation", None) or "sdpa"
    if model_config.model_type == "t5":
        act = model_config.dense_act_fn
        return ModelShape(True, model_config.d_model, model_config.d_ff, model_config.num_heads,
                          model_config.num_heads * model_config.d_kv, model_config.num_heads * model_config.d_kv,
                          model_config.num_layers, model_config.num_decoder_layers, model_config.vocab_size,
                          6 if act == "gelu_new" else 3, model_config.dropout_rate, attn == "eager", params, modules)
    if hasattr(model_config, "intermediate_size") and hasattr(model_config, "num_key_value_heads"):
        head = getattr(model_config, "head_dim", None) or model_config.hidden_size // model_config.num_attention_heads
        return ModelShape(False, model_config.hidden_size, model_config.intermediate_size,
                          model_config.num_attention_heads, model_config.num_attention_heads * head,
                          model_config.num_key_value_heads * head, model_config.num_hidden_layers,
                          model_config.num_hidden_layers, model_config.vocab_size, 3,
                          getattr(model_config, "attention_dropout", 0.0), attn == "eager", params, modules)
    raise ConfigError(f"no memory model for model_type {model_config.model_type!r}: kpod_lite.memory knows T5- "
                      f"and LLaMA-style configs; pass --set lora=... at your own risk or extend model_shape")


# --- bytes autograd saves per token and layer ------------------------------------------------------------


def _lora_input(n_in: int, rank: int, dropout: float, mask_bytes: int) -> float:
    """A LoRA adapter (peft, float32): its dropout mask and input (4), and A's output (r)."""
    return n_in * (4 + (mask_bytes if dropout > 0 else 0)) + 4 * rank


def _saved_per_token(shape: ModelShape, B: int, lora: set | None, rank: int, lora_dropout: float,
                     kind: str, kv_length: int, cross_length_ratio: float = 0.0, cpu: bool = False) -> float:
    """Bytes autograd saves per token of one layer (`kind`: "self" for an encoder or causal
    layer, "decoder" for a T5 decoder layer with cross-attention). `lora`: adapted module
    names (None: full fine-tune, every linear saves its input). `kv_length`: keys attended
    (eager attention only); `cross_length_ratio`: source tokens per target token."""
    h, f, drop = shape.hidden, shape.ffn, shape.dropout
    # CUDA's fused dropout keeps a bool mask; the CPU kernel a float32 one. CUDA's SDPA kernels keep no
    # s x s matrix; on CPU a float mask (T5's position bias) sends SDPA down its math path, which does.
    mask = 4 if cpu else 1
    scores = shape.eager_attention or (cpu and shape.seq2seq)
    full = lora is None
    adapted = set() if full else lora

    def lora_in(name, n_in):  # what an adapted linear saves per token of its input
        return _lora_input(n_in, rank, lora_dropout, mask) if name in adapted else 0.0

    def norm() -> float:  # RMS norm: its float32 copy, the dtype copy T5 multiplies, weight x input
        return 4 * h + (h * B if B < 4 else 0) + (h * B if full else 0)

    def attention(q_tokens: float, kv_tokens: float, keys: int) -> float:
        names = ("q", "k", "v", "o") if shape.seq2seq else ("q_proj", "k_proj", "v_proj", "o_proj")
        total = q_tokens * norm()
        if full:  # q, k, v share one input (cross-attention: the encoder output, kept once); o's input
            total += q_tokens * (h + shape.q_dim) * B
        else:
            total += q_tokens * (lora_in(names[0], h) + lora_in(names[3], shape.q_dim))
            total += kv_tokens * (lora_in(names[1], h) + lora_in(names[2], h))
        # SDPA saves q, k, v, its output and a log-sum-exp per head (no s x s matrix).
        total += q_tokens * (2 * shape.q_dim * B + 4 * shape.heads) + kv_tokens * 2 * shape.kv_dim * B
        if scores:  # the s x s scores: softmax output (float32 and dtype), dropout mask and output
            total += q_tokens * shape.heads * keys * (4 + (B if B < 4 else 0) + ((mask + B) if drop > 0 else 0))
        return total + (q_tokens * h * mask if drop > 0 else 0)  # residual dropout mask

    per = attention(1, 1, kv_length)
    if kind == "decoder":
        per += attention(1, cross_length_ratio, int(kv_length * cross_length_ratio) or 1)
    # Gated MLP: norm, the activation's saved tensors, dropout masks, linear inputs.
    gate, up, down = ("wi_0", "wi_1", "wo") if shape.seq2seq else ("gate_proj", "up_proj", "down_proj")
    per += norm() + shape.ffn_saved * f * B + ((f + h) * mask if drop > 0 else 0)
    if full:  # gate and up share one input; down's input
        per += (h + f) * B
    else:
        per += lora_in(gate, h) + lora_in(up, h) + lora_in(down, f)
    return per


@dataclass
class StageEstimate:
    """Peak GPU bytes of one stage, with the parts that make it up (the kpod_lite.memory docstring)."""

    stage: str
    parts: dict[str, int]

    @property
    def total(self) -> int:
        return int(sum(self.parts.values()) * SLACK_FACTOR + SLACK_BYTES)

    def to_dict(self) -> dict:
        return {"stage": self.stage, "total": self.total, "total_gib": round(self.total / GiB, 2),
                "parts": dict(self.parts)}


def _activations(shape: ModelShape, B: int, rows: int, source: int, target: int, lora: set | None, rank: int,
                 lora_dropout: float, checkpointing: bool, cpu: bool = False) -> int:
    """Bytes of activations one training step saves (the kpod_lite.memory docstring), all layers."""
    if shape.seq2seq:
        enc = _saved_per_token(shape, B, lora, rank, lora_dropout, "self", source, cpu=cpu)
        dec = _saved_per_token(shape, B, lora, rank, lora_dropout, "decoder", target, source / max(target, 1), cpu)
        layers = [(rows * source, enc, shape.layers), (rows * target, dec, shape.decoder_layers)]
    else:
        tokens = source + target
        layers = [(rows * tokens, _saved_per_token(shape, B, lora, rank, lora_dropout, "self", tokens, cpu=cpu), shape.layers)]
    if not checkpointing:
        return int(sum(tokens * per * n for tokens, per, n in layers))
    # Each layer's input kept, one layer (the largest) recomputed in backward.
    return int(sum(tokens * shape.hidden * B * n for tokens, _, n in layers) + max(t * p for t, p, _ in layers))


def _lora_parameters(shape: ModelShape, targets: list[str], rank: int) -> int:
    return sum(rank * (n_in + n_out) * count for name, (n_in, n_out, count) in shape.modules.items()
               if name in targets)


def _training_state(shape: ModelShape, cfg: KPODConfig, B: int, model_config) -> tuple[dict, set | None]:
    """(parts, adapted module names or None for a full fine-tune) of a trained student."""
    if cfg.lora:
        targets = lora_target_modules(model_config, cfg.lora_target_modules)
        return {"lora_weights_grads_adam": 16 * _lora_parameters(shape, targets, cfg.lora_rank)}, set(targets)
    return {"grads_adam": 3 * shape.parameters * B}, None


def _distill(cfg: KPODConfig, shape: ModelShape, B: int, weights: dict, train: dict, adapted: set | None,
             cpu: bool) -> StageEstimate:
    """distill (Eq. 15): a Trainer step at batch_size x lengths."""
    src, tgt = cfg.max_source_length, cfg.max_target_length
    positions = tgt if shape.seq2seq else src + tgt
    return StageEstimate("distill", {**weights, **train, "activations": _activations(
        shape, B, cfg.batch_size, src, tgt, adapted, cfg.lora_rank, cfg.lora_dropout, cfg.gradient_checkpointing, cpu),
        "logits": cfg.batch_size * positions * shape.vocab * (12 + (B if B < 4 else 0))})


def _weigh(cfg: KPODConfig, shape: ModelShape, B: int, weights: dict, model_config, predictor_config,
           steps_per_rationale: int, cpu: bool) -> StageEstimate:
    """weigh (§3.3, Eq. 5-7): the TokenWeighter, and the predictor trained on one row per prefix."""
    pshape, pconfig = (shape, model_config) if predictor_config is None else (model_shape(predictor_config),
                                                                              predictor_config)
    wb, wk = weighting_batch_size(cfg), weighting_max_tokens(cfg)
    fixed = {"all": wk, "steps": steps_per_rationale, "sampled": 0}[cfg.prefix_mode]
    rows, row_len = wb * (fixed + cfg.weighting_sampled_prefixes), cfg.max_source_length + wk + TRIGGER_TOKENS
    h = shape.hidden
    weighter = 4 * shape.vocab * h + 16 * (5 * h * h + 8 * h)  # frozen float32 Emb copy; Att + f_w with AdamW
    if cfg.lora:
        targets = lora_target_modules(pconfig, cfg.lora_target_modules)
        predictor = {"predictor_lora": 16 * _lora_parameters(pshape, targets, cfg.lora_rank)}
        pB, padapted = B, set(targets)
    else:  # a float32 copy trained whole (weighting.training.load_predictor)
        predictor = {"predictor_copy_grads_adam": 16 * pshape.parameters}
        pB, padapted = 4, None
    if predictor_config is not None:
        predictor["predictor_weights"] = pshape.parameters * B if cfg.lora else 0
    # A LoRA predictor's logits cover the answer positions alone (weighting answers_only).
    positions = ANSWER_TOKENS if pshape.seq2seq or cfg.lora else row_len + ANSWER_TOKENS
    return StageEstimate("weigh", {**weights, "weighter": weighter, **predictor, "activations": _activations(
        pshape, pB, rows, row_len, ANSWER_TOKENS, padapted, cfg.lora_rank, cfg.lora_dropout,
        cfg.gradient_checkpointing, cpu), "logits": rows * positions * pshape.vocab * (16 + (pB if pB < 4 else 0)),
        "weighter_activations": wb * wk * h * 4 * 12})


def _difficulty(cfg: KPODConfig, shape: ModelShape, B: int, weights: dict) -> StageEstimate:
    """difficulty (Eq. 8): a no-grad forward at batch_size; the forward builds a KV cache."""
    src, tgt = cfg.max_source_length, cfg.max_target_length
    layers = shape.layers + shape.decoder_layers if shape.seq2seq else shape.layers
    tokens = cfg.batch_size * (src + tgt)
    positions = tgt if shape.seq2seq else src + tgt
    return StageEstimate("difficulty", {**weights,
        "forward_working_set": tokens * (4 * shape.hidden + 3 * shape.ffn) * B,
        "kv_cache": 2 * layers * tokens * shape.kv_dim * B,
        "logits": cfg.batch_size * positions * shape.vocab * (8 + (B if B < 4 else 0))})


def _evaluate(cfg: KPODConfig, shape: ModelShape, B: int, weights: dict) -> StageEstimate:
    """evaluate (§4): greedy generation, eval_batch_size prompts (as evaluate.generate defaults it)."""
    eb, src, new, h = cfg.generation_batch_size, cfg.max_source_length, cfg.max_new_tokens, shape.hidden
    prefill = eb * src * (4 * h + 3 * shape.ffn) * B
    if shape.seq2seq:  # self-attention over the new tokens, cross-attention over the source
        cache = 2 * shape.decoder_layers * eb * (new + src) * shape.kv_dim * B + eb * src * h * B
        logits = eb * shape.vocab * (B + 4)
    else:
        cache = 2 * shape.layers * eb * (src + new) * shape.kv_dim * B
        logits = eb * src * shape.vocab * B  # an upper bound: the prefill's logits at every position
    return StageEstimate("evaluate", {**weights, "kv_cache": cache, "forward_working_set": prefill, "logits": logits})


def estimate_memory(cfg: KPODConfig, model_config, *, bf16: bool | None = None,
                    steps_per_rationale: int = STEPS_PER_RATIONALE, predictor_config=None,
                    device: str = "cuda") -> dict[str, StageEstimate]:
    """Peak GPU bytes per stage (`GPU_STAGES`) for `cfg` with a student of `model_config`.

    `bf16`: whether the GPU computes in bfloat16 (None: ask this machine's GPU; a CPU says no),
    so parameters take 2 bytes where `cfg.bf16` and the GPU allow it, else 4 (`student_dtype`).
    `predictor_config`: the model config of a `weighting_predictor` other than the student.
    `device`: "cuda", or "cpu" for the CPU check (float32 dropout masks, SDPA's math path).
    Formulas and constants: the kpod_lite.memory docstring.
    """
    from kpod_lite.models import bf16_supported

    cpu = device == "cpu"
    use_bf16 = not cpu and cfg.bf16 and (bf16_supported() if bf16 is None else bf16)
    B = 2 if use_bf16 else 4
    shape = model_shape(model_config)
    weights = {"weights": shape.parameters * B}
    train, adapted = _training_state(shape, cfg, B, model_config)
    return {"weigh": _weigh(cfg, shape, B, weights, model_config, predictor_config, steps_per_rationale, cpu),
            "difficulty": _difficulty(cfg, shape, B, weights),
            "distill": _distill(cfg, shape, B, weights, train, adapted, cpu),
            "evaluate": _evaluate(cfg, shape, B, weights)}
