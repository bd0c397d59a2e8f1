"""Training θ^w with L_k = L_p + α L_m (§3.3, Eq. 7).

One step: Eq. 2-3 give a logit per token, Eq. 4 draws one mask per rationale (shared by its
prefixes), the mask mixes the predictor's embeddings, then Eq. 5, 6 and 7; Adam on Att, f_w
and the predictor (Emb frozen, App. A). Before the epochs the predictor warms up on unmasked
rationales (ours, for tiny students), and after them the mean weight is checked for collapse
(below 0.02: every token masked; above 0.98: none; the package docstring says what to do).
The random draws (batch order, prefixes, Gumbel noise) come from `config.seed` in a fixed
order, so a seed gives the same weighter on one machine.
"""

from __future__ import annotations

import copy
import random
import time
from pathlib import Path
import warnings

import torch
from tqdm.auto import tqdm

from kpod_lite.config import KPODConfig
from kpod_lite.models import load_student, pad_right
from kpod_lite.models.loading import model_cuda_devices
from kpod_lite.weighting.checkpoint import fingerprint, load_state, restore_state, save_state
from kpod_lite.weighting.generator import TokenWeighter, build_weighter
from kpod_lite.weighting.losses import keypoint_loss, mask_ratio_loss
from kpod_lite.weighting.masks import apply_mask, gumbel_mask
from kpod_lite.weighting.sizes import weighting_batch_size
from kpod_lite.weighting.tokens import _Embedder, _training_items


# Mean weight below / above which the weights are called collapsed (module docstring).
COLLAPSE_LOW, COLLAPSE_HIGH = 0.02, 0.98


class WeightCollapseWarning(UserWarning):
    """Training ended with (almost) every token masked, or (almost) none masked."""


def load_predictor(config: KPODConfig, student, tokenizer):
    """The transformer of Eq. 5: the student, or `weighting_predictor` from the config.

    The paper initialises it from pretrained FlanT5-Large (§3.3) and trains it with θ^w. A
    student trained with LoRA (`config.lora`, App. A) lends its own frozen weights: the
    predictor is the student with LoRA adapters of its own, so no second copy of a 7B model
    exists, and `release_predictor` takes the adapters out again afterwards (ours; the paper
    trains it whole, docs/WEIGHTING.md). A fully fine-tuned student is copied and the copy
    trained whole. Another model must share the student's vocabulary: the masks are drawn for
    the student's tokens and applied to its embeddings.
    """
    from kpod_lite.models import apply_lora

    name = config.weighting_predictor
    if not name or name == config.student:
        if config.lora:
            return apply_lora(student, config)
        return copy.deepcopy(student).float()
    # Seq2seq or causal: read off the predictor's own config (kpod_lite.families).
    predictor, predictor_tokenizer = load_student(config.replace(student=name), device=next(student.parameters()).device)
    if predictor_tokenizer.get_vocab() != tokenizer.get_vocab():
        raise ValueError(f"weighting_predictor {name!r} has another vocabulary than the student "
                         f"{config.student!r}: the masks of Eq. 4 could not be applied to its tokens")
    return apply_lora(predictor, config) if config.lora else predictor.float()


def release_predictor(predictor, student) -> None:
    """Undo what `load_predictor` did to the student: a LoRA predictor built on the student
    itself gives its adapters back (peft's `unload`), leaving the student's weights as loaded."""
    from peft import PeftModel

    if isinstance(predictor, PeftModel) and predictor.get_base_model() is student:
        predictor.unload()


def warm_up_predictor(predictor, embedder: _Embedder, items: list[dict], steps: int, lr: float,
                      batch_size: int, rng: random.Random, bar=None) -> list[float]:
    """Teach the predictor to read the answer off an unmasked rationale (ours; module docstring).

    Eq. 5 with the full rationale (k = n) and no mask, per answer token, with Adam. Returns
    the loss of each step; `bar` (a tqdm bar, or None) moves one step at a time.
    """
    optimizer = torch.optim.AdamW([p for p in predictor.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    predictor.train()
    losses = []
    for _ in range(steps):
        batch = rng.sample(items, min(batch_size, len(items)))
        loss = embedder.loss(predictor, batch, [embedder(item["ids"]) for item in batch],
                             [[len(item["ids"])] for item in batch]).sum()
        loss = loss / sum(len(item["answer"]) for item in batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.update(1)
    return losses


def training_step(weighter: TokenWeighter, predictor, embedder: _Embedder, batch: list[dict],
                  config: KPODConfig, generator: torch.Generator, rng: random.Random) -> dict:
    """L_k (Eq. 7) of one batch and its parts, before backpropagation.

    Eq. 2-3 give a logit per token, Eq. 4 draws one mask per rationale (shared by all of its
    prefixes: they are prefixes of one masked rationale r[m]), the mask mixes the predictor's
    embeddings, then Eq. 5, 6 and 7.
    """
    ids, attention = (t.to(embedder.device) for t in pad_right([item["ids"] for item in batch]))
    logits = weighter(ids, attention)  # Eq. 2-3
    mask = gumbel_mask(logits, config.gumbel_temperature, config.weighting_hard, generator)  # Eq. 4
    masked = apply_mask(embedder(ids), mask, embedder(embedder.mask_id))
    prefixes = []
    for item in batch:
        if config.prefix_mode == "sampled":
            # Drawn with replacement, so the mean over them estimates the mean over all k without bias.
            prefixes.append(sorted(rng.randint(1, len(item["ids"])) for _ in range(config.weighting_sampled_prefixes)))
            continue
        ks = set(item["ks"])
        ks |= {rng.randint(1, len(item["ids"])) for _ in range(config.weighting_sampled_prefixes)}
        prefixes.append(sorted(ks))
    rationales = [masked[i, : len(item["ids"])] for i, item in enumerate(batch)]
    answer_loss = embedder.loss(predictor, batch, rationales, prefixes)  # Eq. 5
    ratio_loss = mask_ratio_loss(mask, attention)  # Eq. 6
    return {"loss": keypoint_loss(answer_loss, ratio_loss, config.alpha),  # Eq. 7
            "answer_loss": answer_loss.mean(), "mask_ratio": ratio_loss.mean(),
            "mean_weight": torch.sigmoid(logits)[attention.bool()].mean()}


def collapse_state(mean_weight: float) -> str | None:
    """"all masked" or "none masked" when the mean weight is below 0.02 or above 0.98, else None."""
    if mean_weight < COLLAPSE_LOW:
        return "all masked"
    if mean_weight > COLLAPSE_HIGH:
        return "none masked"
    return None


def _warm_up(predictor, embedder: _Embedder, items: list[dict], config: KPODConfig, rng: random.Random,
             progress: bool, bar=None) -> list[float]:
    """`warm_up_predictor` with the config's steps, lr and batch size; the mean loss per 25 steps."""
    warm = warm_up_predictor(predictor, embedder, items, config.weighting_predictor_warmup_steps,
                             config.weighting_lr, weighting_batch_size(config), rng, bar)
    summary = [round(sum(warm[i:i + 25]) / len(warm[i:i + 25]), 4) for i in range(0, len(warm), 25)]
    if progress and warm:
        print(f"predictor warm-up: loss per answer token {summary}", flush=True)
    return summary


def _training_epoch(weighter: TokenWeighter, predictor, embedder: _Embedder, items: list[dict],
                    config: KPODConfig, optimizer, parameters, generator: torch.Generator,
                    rng: random.Random, epoch: int, progress: bool, bar=None) -> dict:
    """One pass over `items` in an order drawn from `rng`: `training_step`, backward, clip, Adam.

    Returns the epoch's history entry: L_k, L_p, the kept fraction and the mean weight (means
    over the rationales), and seconds.
    """
    started = time.perf_counter()
    batch_size = weighting_batch_size(config)
    order = rng.sample(range(len(items)), len(items))
    sums = {"loss": 0.0, "answer_loss": 0.0, "mask_ratio": 0.0, "mean_weight": 0.0}
    for start in range(0, len(order), batch_size):
        batch = [items[i] for i in order[start:start + batch_size]]
        parts = training_step(weighter, predictor, embedder, batch, config, generator, rng)
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        for key in sums:
            sums[key] += float(parts[key].detach()) * len(batch)
        if bar is not None:
            bar.update(1)
    entry = {"epoch": epoch + 1, **{k: round(v / len(items), 5) for k, v in sums.items()},
             "seconds": round(time.perf_counter() - started, 2)}
    if progress:
        print(f"weighting epoch {epoch + 1}/{config.weighting_epochs}: L_k {entry['loss']:.4f}  "
              f"L_p {entry['answer_loss']:.4f}  kept {entry['mask_ratio']:.3f}  "
              f"mean w {entry['mean_weight']:.3f}", flush=True)
    return entry


def _warn_if_collapsed(history: dict, config: KPODConfig) -> None:
    """A `WeightCollapseWarning` with what to change, when `history["collapse"]` says so.

    Called by `train_weighter` only: stacklevel 3 points the warning at its caller.
    """
    if history["collapse"] == "all masked":
        warnings.warn(f"token weighting collapsed: every token masked (mean weight "
                      f"{history['epochs'][-1]['mean_weight']:.3f}); the weights rank nothing. Lower alpha "
                      f"({config.alpha}), or let the predictor learn to read rationales first (more "
                      f"weighting_predictor_warmup_steps, a stronger weighting_predictor), or train longer.",
                      WeightCollapseWarning, stacklevel=3)
    elif history["collapse"] == "none masked":
        warnings.warn(f"token weighting collapsed: no token masked (mean weight "
                      f"{history['epochs'][-1]['mean_weight']:.3f}); every weight is near 1, so they barely "
                      f"tell tokens apart. Raise alpha ({config.alpha}) or lower gumbel_temperature "
                      f"({config.gumbel_temperature}).", WeightCollapseWarning, stacklevel=3)


def train_weighter(rationale_records, config: KPODConfig, *, student=None, tokenizer=None,
                   predictor=None, progress: bool = False, checkpoint: Path | str | None = None):
    """Train θ^w (Att, f_w and the predictor; Emb frozen) with L_k (Eq. 7); `(weighter, history)`.

    `student`/`tokenizer` default to `load_student(config)`; Emb copies the student's input
    embeddings (App. A). `predictor` (the transformer of Eq. 5) defaults to `load_predictor`;
    one passed in is trained in place. Adam, `config.weighting_lr`, `config.weighting_epochs`
    epochs after the predictor warm-up; deterministic for a given `config.seed` on one machine.

    `history`: "predictor_warmup" (mean loss per 25 warm-up steps), "epochs" (per epoch: L_k,
    L_p, the mask ratio = mean m = the kept fraction, the mean weight, seconds), "collapse"
    (None, "all masked" or "none masked" after the last epoch, with a `WeightCollapseWarning`),
    "rationales" trained on and "skipped_empty".

    `checkpoint`: a file that holds the state after the warm-up and after each epoch; a rerun
    resumes from it and ends with the same weights as an uninterrupted run
    (`kpod_lite.weighting.checkpoint`).
    """
    if student is None or tokenizer is None:
        loaded, loaded_tokenizer = load_student(config)
        student = loaded if student is None else student
        tokenizer = loaded_tokenizer if tokenizer is None else tokenizer
    records = list(rationale_records)
    weighter = build_weighter(student, config)
    items = _training_items(records, tokenizer, config)
    history = {"predictor_warmup": [], "epochs": [], "collapse": None, "rationales": len(items),
               "skipped_empty": len(records) - len(items)}
    if not items:
        warnings.warn("no non-empty rationale to train the token weighting on; the weighter is untrained",
                      WeightCollapseWarning, stacklevel=2)
        return weighter.eval(), history
    given = predictor is not None
    trainable = {name: p.requires_grad for name, p in student.named_parameters()}
    # The caller's random streams are left as they were (dropout draws from them): the CPU's and
    # those of the student's GPU, which a predictor loaded here shares (load_predictor).
    devices = sorted({*model_cuda_devices(student), *(model_cuda_devices(predictor) if given else ())})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)  # dropout, if the predictor has any
        predictor = predictor if given else load_predictor(config, student, tokenizer)
        try:
            _train(config, items, weighter, predictor, tokenizer, history, progress, checkpoint)
        finally:  # also when killed: a LoRA predictor gives the student back as it was
            predictor.eval()
            if not given:
                release_predictor(predictor, student)
                for name, p in student.named_parameters():
                    p.requires_grad_(trainable.get(name, p.requires_grad))
    weighter.eval()
    if history["epochs"]:
        history["collapse"] = collapse_state(history["epochs"][-1]["mean_weight"])
    _warn_if_collapsed(history, config)
    return weighter, history


def _train(config: KPODConfig, items: list[dict], weighter, predictor, tokenizer, history: dict, progress: bool,
           checkpoint) -> None:
    """The warm-up and the epochs of `train_weighter`, resumed from `checkpoint` when it holds a state;
    `history` is filled in place."""
    # A LoRA predictor (the GPU presets) scores the answer positions alone (memory, Eq. 5).
    embedder = _Embedder(predictor, tokenizer, answers_only=config.lora)
    rng = random.Random(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    batches = -(-len(items) // weighting_batch_size(config))
    steps = config.weighting_predictor_warmup_steps + config.weighting_epochs * batches
    bar = tqdm(total=steps, desc="token weighting (Eq. 7)", unit="step", disable=not progress)
    valid_for = fingerprint(config, items) if checkpoint is not None else ""
    state = load_state(Path(checkpoint), valid_for) if checkpoint is not None else None
    if state is None:
        history["predictor_warmup"] = _warm_up(predictor, embedder, items, config, rng, progress, bar)
    parameters = [p for p in [*weighter.parameters(), *predictor.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.weighting_lr, weight_decay=0.0)
    if state is not None:  # a killed run's last finished phase (weighting.checkpoint)
        history.update(restore_state(state, weighter=weighter, predictor=predictor, optimizer=optimizer,
                                     rng=rng, generator=generator))
        bar.update(config.weighting_predictor_warmup_steps + state["epochs_done"] * batches)
    elif checkpoint is not None:
        save_state(Path(checkpoint), valid_for=valid_for, epochs_done=0, weighter=weighter, predictor=predictor,
                   optimizer=optimizer, rng=rng, generator=generator, history=history)
    weighter.train()
    predictor.train()
    for epoch in range(len(history["epochs"]), config.weighting_epochs):
        history["epochs"].append(_training_epoch(weighter, predictor, embedder, items, config, optimizer,
                                                 parameters, generator, rng, epoch, progress, bar))
        if checkpoint is not None:
            save_state(Path(checkpoint), valid_for=valid_for, epochs_done=epoch + 1, weighter=weighter,
                       predictor=predictor, optimizer=optimizer, rng=rng, generator=generator, history=history)
    bar.close()
