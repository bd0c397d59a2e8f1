"""The prepared GPU check: KPOD's four GPU stages on the published students' architectures,
timed, counted in FLOPs and measured in GPU memory, in one command of at most 8 minutes.

On the GPU machine, from the repository root (no internet needed: random weights from the
published configs, the SentencePiece stand-in tokenizers, the MCC-KD-format sample data;
the script sets HF_HUB_OFFLINE=1 itself):

    python benchmarks/gpu_check.py --out $OUT/gpu_check.json

Without CUDA it refuses (a message, exit status 2) unless `--smoke`, which runs the very same
code at toy size on the CPU (tests/test_gpu_check.py runs it in CI, in about 30 s):

    .venv/bin/python benchmarks/gpu_check.py --smoke --out /tmp/gpu_check.json

**Runs.** Three short KPOD runs (App. B, Algorithm 1), each on a student folder written by
`models.published.save_published` (random weights drawn on the device, the family's stand-in
tokenizer) and a config from the project's presets with the sample data
(`real_architectures.REDUCED` and `sample_data`: 2 epochs, so T = 1; lengths 160 / 128;
`GPU_SIZES`: all 12 training and 8 test questions):

    flan-t5-large/float32   preset "colab", 24 + 24 layers, float32 (bf16 off)
    flan-t5-large/bf16      preset "colab", the same folder, bfloat16
    llama-7b/bf16           preset "llama-7b", --llama-depth layers (default 32, all: 13.5 GB in bf16)

`--smoke` runs the three at depth 1, narrowed in width and vocabulary (`SMOKE_SHAPES`, written
into each student section), on one CPU thread, in float32 (a "bf16" run there is float32:
`models.student_dtype`), with fewer questions (`SMOKE_SIZES`).

**Sections of a run**, in order; each stage loads the student from its folder, as the pipeline does:

    student     save_published, then the questions and the released rationales (§3.1, CPU)
    weigh       mask learning, Eq. 5-7: `weighting.train_weighter`, then `weighting.weigh` (Eq. 3)
    difficulty  step difficulty, Eq. 8: `difficulty.difficulty_file`; then the schedule (Eq. 9-13, CPU)
    distill     progressive weighted distillation, Eq. 14-15: `distill.distill`
    evaluate    greedy generation on the test questions, §4: `evaluate.load_trained`, `evaluate_examples`
    generation  on the evaluate stage's student: `evaluate.generate` on the test prompts as one batch
                (padded on the left for LLaMA) against each prompt alone, `batch_equals_single`
                (`generation_section` says why lm_head's rows past the tokenizer are zeroed first)
    overhead    KPOD's per-token training cost against plain fine-tuning on identical batches:
                benchmarks/bench_distill_overhead.py's arms (A: a stock `Trainer` with
                `DataCollatorForSeq2Seq`; B: `KPODTrainer`, `pad_batch`, `ProgressiveDataset` and
                `CurriculumCallback`) on this run's weights and schedule, a fresh student built on
                the device for every arm run (`build_published`, seeded); on the GPU one untimed
                run of each, then two interleaved repetitions; every run's batches are checked
                equal to the first's. per_token_time_ratio_b_over_a = median of B's wall seconds
                over A's (the target tokens are the same)

**Figures** of a stage (weigh, difficulty, distill, evaluate):

    step_seconds    median seconds of a training step (weigh: between optimizer steps; distill:
                    the Trainer's step), the first left out (it holds the set-up); difficulty and
                    evaluate: mean seconds of a forward pass (a batch; a decoding step)
    tokens_per_s    positions the student's stacks processed per second (T5: encoder and decoder),
                    padding left out where an attention mask marks it, over the same steps
    tflops          FLOPs per second over those steps. FLOPs from the parameters each position
                    passes through (forward hooks): 2 x encoder parameters per source position,
                    2 x (decoder parameters + lm_head) per target position, lm_head counted where
                    it is applied (Eq. 5's LoRA predictor applies it to the answer positions only);
                    left out: embedding lookups and attention's score products (about 3% more for
                    FlanT5-Large at these lengths, 1% for LLaMA-7B). A training step adds the
                    backward: 2 x parameters per position for the input gradients and 2 x
                    trainable parameters for the weight gradients (3x the forward for a full
                    fine-tune, about 2x with LoRA's frozen base: a frozen weight gets no gradient),
                    and one forward more in the stacks that gradient checkpointing recomputes
    mfu_vs_peak     tflops / the GPU's dense peak for the dtype (`PEAK_TFLOPS`, by device name;
                    null when the name is not in the table)
    mfu_vs_matmul   tflops / the rate of an 8192^3 matmul of the same dtype timed with CUDA events
                    in this run (section "device"; float32 with TF32 off, as the stages run)
    memory          max_memory_allocated and max_memory_reserved over the stage (peaks reset before
                    it, loading the student included) against `memory.estimate_memory(cfg, config,
                    bf16=...)[stage].total` (with its slack), as ratios; allocated after the stage
                    released its student (evaluate's student is released after the generation
                    section). Without CUDA: null, "no CUDA"
    losses          weigh: the mean L_k of each epoch and the mean warm-up loss per 25 steps (a NaN
                    step makes its mean NaN); distill: every step's loss, logged per step with the
                    Trainer's NaN filter off (it would log a NaN step as the window's mean);
                    overhead: each arm's epoch means, the filter off too. `losses_finite`

distill also records `allocated_when_distill_returns_mib` (what the caller still holds: the
returned student, and anything a reference cycle keeps until gc) and
`allocated_after_release_mib` (after `del` of what it returned, `memory.release`: gc.collect,
empty_cache); `released` is true when the second is within 64 MiB of the allocation before
the stage. "checks" gathers the verdicts: no NaN loss, batch = single, released, and the
sections that did not finish.

**Time.** `--budget-s` (default 450) counts from the end of the imports (6 s on the 2-core CPU
here; "imports_seconds" in the JSON). Each section has a cap (`CAPS`); it starts only with at
least min(cap, 10 s) left (smoke: 1 s), else it is recorded as "skipped: time budget", and
SIGALRM stops it at min(cap, what is left): "cut: time budget". A section that needs an
earlier one's output is "skipped: needs ..." when that did not finish. The JSON file is
rewritten (atomically) after every section, so a run stopped from outside still leaves what
it measured; the last one is printed on stdout too. Non-finite numbers are written as the
strings "nan" / "inf" (strict JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

STARTED = time.perf_counter()  # the imports' share of the 8 minutes is reported

# Offline, whatever the machine's environment says: everything here is built locally.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_distill_overhead as overhead_arms  # noqa: E402
from real_architectures import REDUCED, sample_data  # noqa: E402

from kpod_lite import data, difficulty, evaluate, weighting  # noqa: E402
from kpod_lite import distill as distillation  # noqa: E402
from kpod_lite.config import preset  # noqa: E402
from kpod_lite.distill.run import checked_inputs  # noqa: E402
from kpod_lite.families import family_of  # noqa: E402
from kpod_lite.memory import estimate_memory, gpu_peak_mb, release, reset_gpu_peak  # noqa: E402
from kpod_lite.methods import METHODS  # noqa: E402
from kpod_lite.models import apply_lora, load_student, load_tokenizer, student_dtype  # noqa: E402
from kpod_lite.models.published import (PUBLISHED, build_published, parameter_count,  # noqa: E402
                                        published_config, save_published)
from kpod_lite.pipeline import stage_questions, stage_schedule, stage_student_symbols, stage_teach  # noqa: E402
from kpod_lite.schedule import Schedule  # noqa: E402

MiB = 2 ** 20

# Dense peaks in TFLOPS (bf16 on tensor cores; float32 without TF32), from NVIDIA's data
# sheets; every listed substring must be in `torch.cuda.get_device_name()`.
PEAK_TFLOPS = (
    (("H200",), {"bf16": 989.0, "float32": 67.0}),  # the H100 SXM's chip with more memory
    (("H100", "PCIe"), {"bf16": 756.0, "float32": 51.0}),
    (("H100", "HBM3"), {"bf16": 989.0, "float32": 67.0}),  # H100 SXM: "NVIDIA H100 80GB HBM3"
    (("H100", "SXM"), {"bf16": 989.0, "float32": 67.0}),
    (("A100",), {"bf16": 312.0, "float32": 19.5}),
)


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    family: str  # "t5" or "llama": the caps, the depth option
    preset: str
    published: str  # `models.published.PUBLISHED` key
    bf16: bool


RUNS = (
    Run("flan-t5-large/float32", "t5", "colab", "google/flan-t5-large", False),
    Run("flan-t5-large/bf16", "t5", "colab", "google/flan-t5-large", True),
    Run("llama-7b/bf16", "llama", "llama-7b", "huggyllama/llama-7b", True),
)

# Seconds a section may take on the GPU, by family (generous: the expected times are a third
# to a half of these; LLaMA's student section writes 27 GB of float32, each of its stages
# reads them).
CAPS = {
    "device": {"any": 20},
    "student": {"t5": 40, "llama": 120},
    "weigh": {"t5": 40, "llama": 75},
    "difficulty": {"t5": 20, "llama": 45},
    "distill": {"t5": 40, "llama": 60},
    "evaluate": {"t5": 30, "llama": 50},
    "generation": {"t5": 20, "llama": 30},
    "overhead": {"t5": 45, "llama": 60},
}
SMOKE_CAP = 30  # every section of the toy run
MIN_START_S = {"gpu": 10, "smoke": 1}  # a section starts with at least min(its cap, this) left

# What the GPU runs train on (the sample has 12 training and 8 test questions) and how long
# they write; the rest of the reduction is real_architectures.REDUCED.
GPU_SIZES = {"train_size": 12, "test_size": 8, "weighting_epochs": 2, "weighting_predictor_warmup_steps": 4,
             "max_new_tokens": 32}
SMOKE_SIZES = {"train_size": 4, "test_size": 3, "max_new_tokens": 8}
# Interleaved repetitions of the two arms, after one untimed run of each on the GPU (its first
# steps pick kernels and grow the allocator); the smoke times its first runs, it checks code.
OVERHEAD_RUNS = {"gpu": {"warm_up": True, "repeats": 2}, "smoke": {"warm_up": False, "repeats": 1}}

# The smoke's students: the published configs at depth 1, narrowed to a width two CPU cores
# train in a fraction of a second a step, and to a vocabulary just above the stand-in
# tokenizer's (890 and 2,000 ids: the published 32k-row tables would be most of the work).
SMOKE_SHAPES = {
    "google/flan-t5-large": {"d_model": 64, "d_ff": 128, "num_heads": 2, "d_kv": 32, "vocab_size": 1024},
    "huggyllama/llama-7b": {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
                            "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 2048},
}


class SectionCut(BaseException):
    """Raised by SIGALRM when a section reaches its time limit; a BaseException, so that no
    library's `except Exception` swallows it."""


class Skipped(Exception):
    """A section that cannot run; the message says why."""


# --- time and the report ------------------------------------------------------------------------------


class Budget:
    """The seconds the whole check may take, from the end of the imports."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = time.perf_counter()

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.started)

    @contextlib.contextmanager
    def limit(self, seconds: float):
        """Raise `SectionCut` in the block after `seconds` (SIGALRM: between Python bytecodes, so
        a running CUDA kernel or a C call finishes first)."""
        def cut(signum, frame):
            raise SectionCut()

        previous = signal.signal(signal.SIGALRM, cut)
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _figure(value: float) -> float:
    """Four significant digits (a toy run's TFLOPS are 1e-4: rounding to places would give 0)."""
    return float(f"{value:.4g}")


def _plain(value):
    """`value` with non-finite floats as strings, so the file is strict JSON and a NaN shows."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Report:
    """The JSON document, rewritten whole (a temporary file renamed over it) after every section."""

    def __init__(self, path: Path, header: dict):
        self.path = path
        self.data = {**header, "status": "running", "sections": {}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write()

    def put(self, where: tuple[str, ...], result: dict) -> None:
        node = self.data["sections"]
        for key in where[:-1]:
            node = node.setdefault(key, {})
        node[where[-1]] = result
        self.write()

    def write(self) -> None:
        scratch = self.path.with_name(self.path.name + ".tmp")
        scratch.write_text(json.dumps(_plain(self.data), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(scratch, self.path)


# --- what the student computes ------------------------------------------------------------------------


class FlopMeter:
    """Positions and FLOPs of every forward pass of a student, and the steps they belong to.

    Forward pre-hooks on the student's stacks (T5: encoder and decoder; LLaMA: the decoder body)
    and on its output layer count positions and FLOPs (module docstring, "tflops"). Steps are
    windows of time: `steps="optimizer"` closes one at every optimizer step (any optimizer: the
    weighting module's warm-up and training each make their own), `"trainer"` lets
    `TrainerSteps` open and close them, `"forward"` makes the whole attachment one window.
    """

    def __init__(self, device: str, steps: str):
        self.cuda = device == "cuda"
        self.mode = steps
        self.handles = []
        self.sizes: dict[int, tuple[int, int]] = {}
        self.flops = 0.0
        self.positions = 0
        self.plain_tokens = 0
        self.masked_tokens = None  # a device tensor: summing masks on the host would sync every forward
        self.forwards = 0  # calls of the last stack: one per batch, or per decoding step
        self.steps: list[dict] = []
        self._window = None
        self._last = None

    # attaching ------------------------------------------------------------------
    def attach(self, model) -> None:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model  # through peft
        stacks = [base.get_encoder(), base.get_decoder()] if family_of(base).seq2seq else [base.get_decoder()]
        self._last = id(stacks[-1])
        for stack in stacks:
            self.handles.append(stack.register_forward_pre_hook(self._stack_hook, with_kwargs=True))
        self.handles.append(base.get_output_embeddings().register_forward_pre_hook(self._head_hook))
        if self.mode == "optimizer":
            from torch.optim.optimizer import register_optimizer_step_post_hook

            self.handles.append(register_optimizer_step_post_hook(self._optimizer_stepped))
        if self.mode in ("optimizer", "forward"):
            self.begin_step()

    def detach(self) -> None:
        if self.mode == "forward":
            self.end_step()
        self._window = None  # an optimizer window left open holds no step
        for handle in self.handles:
            handle.remove()
        self.handles = []

    @contextlib.contextmanager
    def on(self, model=None):
        """Attached to `model` in the block (None: `TrainerSteps` attaches it), detached after."""
        if model is not None:
            self.attach(model)
        try:
            yield self
        finally:
            self.detach()

    # counting --------------------------------------------------------------------
    def _size(self, module) -> tuple[int, int]:
        """(parameters, trainable parameters) a position passes through, embedding tables left out
        (lookups); read at the module's first call in this attachment, once LoRA is in place."""
        key = id(module)
        if key not in self.sizes:
            lookups = {id(p) for m in module.modules() if isinstance(m, torch.nn.Embedding)
                       for p in m.parameters(recurse=False)}
            kept = [p for p in module.parameters() if id(p) not in lookups]
            self.sizes[key] = (sum(p.numel() for p in kept), sum(p.numel() for p in kept if p.requires_grad))
        return self.sizes[key]

    def _count(self, module, positions: int, recomputed: bool) -> None:
        parameters, trainable = self._size(module)
        forward = 2.0 * parameters * positions
        if torch.is_grad_enabled():  # a training forward: its backward follows
            self.flops += forward * (2 + recomputed) + 2.0 * trainable * positions
        else:
            self.flops += forward

    def _stack_hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        shape = tuple((ids if ids is not None else kwargs["inputs_embeds"]).shape[:2])
        positions = shape[0] * shape[1]
        self.positions += positions
        mask = kwargs.get("attention_mask")
        if mask is not None and tuple(mask.shape) == shape:
            total = mask.sum()
            self.masked_tokens = total if self.masked_tokens is None else self.masked_tokens + total
        else:  # a T5 decoder without a mask, or a decoding step (mask over the cache)
            self.plain_tokens += positions
        self._count(module, positions, bool(getattr(module, "gradient_checkpointing", False) and module.training))
        if id(module) == self._last:
            self.forwards += 1

    def _head_hook(self, module, args):
        hidden = args[0]
        self._count(module, hidden.numel() // hidden.shape[-1], False)

    # steps -----------------------------------------------------------------------
    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def _totals(self) -> dict:
        masked = 0 if self.masked_tokens is None else int(self.masked_tokens)
        return {"flops": self.flops, "positions": self.positions, "tokens": self.plain_tokens + masked,
                "forwards": self.forwards}

    def begin_step(self) -> None:
        self._sync()
        self._window = (time.perf_counter(), self._totals())

    def end_step(self) -> None:
        if self._window is None:
            return
        self._sync()
        started, before = self._window
        now = self._totals()
        self.steps.append({"seconds": time.perf_counter() - started, **{k: now[k] - before[k] for k in now}})
        self._window = None

    def _optimizer_stepped(self, optimizer, args, kwargs) -> None:
        self.end_step()
        self.begin_step()

    def summary(self, peak: float | None, matmul: float | None) -> dict:
        """Step time, throughput and MFU (module docstring); training steps after the first."""
        training = self.mode != "forward"
        timed = self.steps[1:] if training and len(self.steps) > 1 else self.steps
        seconds = sum(s["seconds"] for s in timed)
        totals = {k: sum(s[k] for s in timed) for k in ("flops", "positions", "tokens", "forwards")}
        if not timed or seconds <= 0:
            raise RuntimeError(f"no {'training step' if training else 'forward pass'} was measured")
        step = statistics.median(s["seconds"] for s in timed) if training else seconds / max(1, totals["forwards"])
        tflops = totals["flops"] / seconds / 1e12
        return {
            "steps": len(self.steps) if training else totals["forwards"],
            "steps_timed": len(timed) if training else totals["forwards"],
            "step_seconds": _figure(step),
            "tokens_per_s": _figure(totals["tokens"] / seconds),
            "positions_per_s": _figure(totals["positions"] / seconds),
            "tflops": _figure(tflops),
            "mfu_vs_peak": _figure(tflops / peak) if peak else None,
            "mfu_vs_matmul": _figure(tflops / matmul) if matmul else None,
            "flops_per_step": _figure(totals["flops"] / max(1, len(timed) if training else totals["forwards"])),
        }


def trainer_steps(meter: FlopMeter):
    """A `TrainerCallback` that attaches `meter` to the Trainer's model, makes each optimizer
    step one of its steps, and logs every step's loss (module docstring, "losses")."""
    from transformers import TrainerCallback

    class TrainerSteps(TrainerCallback):
        def __init__(self):
            self.losses, self.grad_norms = [], []

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            # The Trainer would log a NaN step as the mean of its logging window (0 for one step).
            args.logging_nan_inf_filter = False
            meter.attach(model)

        def on_step_begin(self, args, state, control, **kwargs):
            meter.begin_step()

        def on_step_end(self, args, state, control, **kwargs):
            meter.end_step()
            control.should_log = True  # every step's loss, not the epoch's mean

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))
                if logs.get("grad_norm") is not None:
                    self.grad_norms.append(float(logs["grad_norm"]))

    return TrainerSteps()


# --- the device -----------------------------------------------------------------------------------------


def peak_tflops(name: str) -> dict | None:
    for parts, peaks in PEAK_TFLOPS:
        if all(part in name for part in parts):
            return dict(peaks)
    return None


def matmul_tflops(dtype: torch.dtype, n: int, repeats: int, device: str) -> float:
    """TFLOPS of an n x n x n matmul in `dtype`, timed with CUDA events (on a CPU: perf_counter)."""
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    out = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(3):  # cuBLAS picks its kernel on the first calls
        torch.mm(a, b, out=out)
    if device == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(repeats):
            torch.mm(a, b, out=out)
        end.record()
        end.synchronize()
        seconds = start.elapsed_time(end) / 1e3
    else:  # the fastest call: a CPU shared with other jobs gives the rest to them
        seconds = repeats * min(_timed(lambda: torch.mm(a, b, out=out)) for _ in range(repeats))
    return 2.0 * n ** 3 * repeats / seconds / 1e12


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def device_section(check) -> dict:
    cuda = check.device == "cuda"
    name = torch.cuda.get_device_name() if cuda else (platform.processor() or platform.machine())
    precision = torch.get_float32_matmul_precision()
    try:  # float32 without TF32, as the stages run it (the Trainer leaves the setting alone)
        torch.set_float32_matmul_precision("highest")
        n, repeats = (8192, {"bf16": 50, "float32": 8}) if cuda else (512, {"bf16": 5, "float32": 5})
        rates = {key: _figure(matmul_tflops(dtype, n, repeats[key], check.device))
                 for key, dtype in (("bf16", torch.bfloat16), ("float32", torch.float32))}
    finally:
        torch.set_float32_matmul_precision(precision)
    check.matmul = rates
    check.peaks = peak_tflops(name) if cuda else None
    return {"name": name, "cuda": torch.version.cuda if cuda else None,
            "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2 ** 30, 1) if cuda else None,
            "float32_matmul_precision_of_the_stages": precision,
            "peak_tflops": check.peaks, "peak_source": "PEAK_TFLOPS (NVIDIA data sheets, dense)" if check.peaks
            else ("no CUDA" if not cuda else "unknown: the device name is not in PEAK_TFLOPS"),
            "matmul_tflops": rates, "matmul": f"{n} x {n} x {n}, timed with "
                                              f"{'CUDA events' if cuda else 'perf_counter (CPU, the fastest call)'}"}


# --- one run's sections ---------------------------------------------------------------------------------


@dataclasses.dataclass
class RunState:
    """What a run's sections hand each other."""

    run: Run
    run_dir: Path
    folder: Path | None = None
    cfg: object = None
    rationales: list | None = None
    test_examples: list | None = None
    steps_max: int = 0
    done: set = dataclasses.field(default_factory=set)
    evaluated: tuple | None = None  # (model, tokenizer): the evaluate stage's student, for generation


class Check:
    """The settings of this invocation and what its sections share."""

    def __init__(self, options, report: Report, budget: Budget):
        self.options = options
        self.smoke = options.smoke
        self.device = "cpu" if options.smoke else "cuda"
        self.cuda = self.device == "cuda"
        self.report, self.budget = report, budget
        self.workdir = Path(tempfile.mkdtemp(prefix="kpod-gpu-check-", dir=options.workdir))
        self.matmul: dict | None = None
        self.peaks: dict | None = None
        if self.smoke:
            for name in SMOKE_SHAPES:
                register_smoke_architecture(name)

    # sections -------------------------------------------------------------------
    def section(self, where: tuple[str, ...], cap: float, work) -> dict:
        """Run `work()` as one section within `cap` seconds and the budget; record its result."""
        started = time.perf_counter()
        if self.budget.left() < min(cap, MIN_START_S["smoke" if self.smoke else "gpu"]):
            result = {"status": "skipped: time budget"}
        else:
            limit = min(cap, self.budget.left())
            try:
                with self.budget.limit(limit):
                    result = {"status": "done", **work()}
            except SectionCut:
                result = {"status": f"cut: time budget ({limit:.0f} s)"}
            except Skipped as reason:
                result = {"status": f"skipped: {reason}"}
            except Exception as error:  # recorded, and the next section runs
                result = {"status": f"error: {type(error).__name__}: {str(error)[:400]}",
                          "traceback": traceback.format_exc()[-3000:]}
            self.release()
        result["section_seconds"] = round(time.perf_counter() - started, 2)
        self.report.put(where, result)
        print(f"[gpu_check] {'/'.join(where)}: {result['status']} ({result['section_seconds']} s)",
              file=sys.stderr, flush=True)
        return result

    def cap(self, section: str, family: str = "any") -> float:
        return SMOKE_CAP if self.smoke else CAPS[section].get(family, CAPS[section].get("any"))

    # the device's memory ------------------------------------------------------------
    def release(self) -> float | None:
        """`memory.release` (gc, then the caching allocator's free blocks back); MiB still allocated."""
        release()
        return round(torch.cuda.memory_allocated() / MiB, 1) if self.cuda else None

    @contextlib.contextmanager
    def memory(self, into: dict):
        """Peak allocated and reserved memory over the block (peaks reset at its start)."""
        if not self.cuda:
            into["memory"] = {"peak_allocated_mib": None, "peak_reserved_mib": None, "null_reason": "no CUDA"}
            yield
            return
        start = self.release()
        reset_gpu_peak()
        yield
        peak = gpu_peak_mb()
        into["memory"] = {"allocated_at_start_mib": start, "peak_allocated_mib": peak["max_allocated"],
                          "peak_reserved_mib": peak["max_reserved"]}

    def against_estimate(self, state: RunState, stage: str, memory: dict) -> None:
        """`memory` with `estimate_memory`'s figure for `stage` and the ratios to it."""
        from transformers import AutoConfig

        found = estimate_memory(state.cfg, AutoConfig.from_pretrained(state.folder), bf16=state.run.bf16,
                                steps_per_rationale=max(1, state.steps_max))[stage]
        total = found.total / MiB
        memory["estimate_mib"] = round(total, 1)
        memory["estimate_parts_sum_mib"] = round(sum(found.parts.values()) / MiB, 1)
        for key, name in (("peak_allocated_mib", "allocated_over_estimate"),
                          ("peak_reserved_mib", "reserved_over_estimate")):
            memory[name] = round(memory[key] / total, 3) if memory.get(key) is not None else None

    def throughput(self, meter: FlopMeter, state: RunState) -> dict:
        key = "bf16" if student_dtype(state.cfg, torch.device(self.device)) == torch.bfloat16 else "float32"
        summary = meter.summary(self.peaks[key] if self.peaks else None, self.matmul[key] if self.matmul else None)
        return {**summary, "compute_dtype": key}


def register_smoke_architecture(name: str) -> str:
    """Put the narrowed twin of a published architecture (`SMOKE_SHAPES`) into
    `models.published.PUBLISHED` as "smoke/<name>", so that `save_published` and
    `build_published` (the GPU run's own functions) build it: they take no width of their own."""
    builder, _ = PUBLISHED[name]

    def narrowed(depth):
        config = builder(depth)
        for key, value in SMOKE_SHAPES[name].items():
            setattr(config, key, value)
        return config

    PUBLISHED[f"smoke/{name}"] = (narrowed, 1)
    return f"smoke/{name}"


def architecture(check: Check, run: Run) -> tuple[str, int | None]:
    """(the `PUBLISHED` key, depth) a run builds: published (LLaMA at --llama-depth), or the smoke's twin."""
    if check.smoke:
        return f"smoke/{run.published}", 1
    depth = check.options.llama_depth if run.family == "llama" else None
    return run.published, depth


def run_config(check: Check, run: Run, folder: Path):
    """The run's preset with the sample data, `REDUCED`'s sizes and this check's own; `device`
    insists on the check's device (without it a published student refuses the CPU)."""
    changes = {**REDUCED, **(SMOKE_SIZES if check.smoke else GPU_SIZES), **sample_data(),
               "student": str(folder), "bf16": run.bf16, "device": check.device}
    return preset(run.preset, **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()})


def _needs(state: RunState, *sections: str) -> None:
    missing = [s for s in sections if s not in state.done]
    if missing:
        raise Skipped(f"needs {', '.join(missing)}")


def student_section(check: Check, state: RunState) -> dict:
    """save_published (once per folder), then questions, released rationales, symbols (§3.1)."""
    name, depth = architecture(check, state.run)
    folder = check.workdir / "students" / f"{name.replace('/', '--')}-depth-{depth or 'published'}"
    result = {"architecture": state.run.published, "built_as": name,
              "depth": depth or PUBLISHED[name][1],
              "parameters_m": round(parameter_count(published_config(name, depth)) / 1e6, 1)}
    if check.smoke:
        result["narrowed"] = SMOKE_SHAPES[state.run.published]
    started = time.perf_counter()
    if (folder / "config.json").is_file():
        result["build"] = "reused the folder an earlier run wrote"
    else:
        scratch = folder.with_name(folder.name + ".partial")  # a cut build leaves no folder to reuse
        shutil.rmtree(scratch, ignore_errors=True)
        with torch.device(check.device):  # random weights drawn on the GPU: 6.7B on a CPU take minutes
            save_published(name, scratch, depth=depth)
        os.replace(scratch, folder)
        result["build_seconds"] = round(time.perf_counter() - started, 1)
    state.folder = folder
    state.cfg = run_config(check, state.run, folder)
    questions = stage_questions(state.cfg, state.run_dir)
    stage_teach(state.cfg, state.run_dir, questions["train"])
    stage_student_symbols(state.cfg, state.run_dir)
    state.rationales = [r for _, r in data.read_jsonl(state.run_dir / "rationales.jsonl")]
    state.test_examples = data.load_examples(questions["test"], "kpod")
    state.steps_max = max(len(data.split_steps(r["rationale"])) for r in state.rationales)
    keep = ("epochs", "batch_size", "lora", "lora_rank", "gradient_checkpointing", "weighting_batch_size",
            "weighting_epochs", "weighting_predictor_warmup_steps", "max_source_length", "max_target_length",
            "max_new_tokens", "bf16")
    result.update(rationales=len(state.rationales), test_questions=len(state.test_examples),
                  steps_per_rationale_max=state.steps_max, config={k: getattr(state.cfg, k) for k in keep})
    return result


def _timed_load(load, result: dict, *args):
    """`load(*args)`, its seconds kept in `result["load_seconds"]` (a stage's time includes its load)."""
    started = time.perf_counter()
    loaded = load(*args)
    result["load_seconds"] = round(time.perf_counter() - started, 2)
    return loaded


def weigh_section(check: Check, state: RunState) -> dict:
    """Mask learning (§3.3, Eq. 5-7) and the token weights (Eq. 3), as `weighting.weigh_file` does."""
    _needs(state, "student")
    cfg, result = state.cfg, {}
    meter = FlopMeter(check.device, steps="optimizer")
    with check.memory(result):
        student, tokenizer = _timed_load(load_student, result, cfg)
        result["dtype"] = str(next(student.parameters()).dtype)
        with meter.on(student):
            weighter, history = weighting.train_weighter(state.rationales, cfg, student=student, tokenizer=tokenizer)
        weights = weighting.weigh(state.rationales, weighter, tokenizer, weighting.weighting_max_tokens(cfg))
        weighting.write_weights(state.run_dir / "weights.jsonl", weights)
    del student, weighter, tokenizer
    result["memory"]["allocated_after_release_mib"] = check.release()
    check.against_estimate(state, "weigh", result["memory"])
    losses = list(history["predictor_warmup"]) + [epoch["loss"] for epoch in history["epochs"]]
    result.update(check.throughput(meter, state), losses=losses,
                  losses_finite=all(math.isfinite(x) for x in losses) and bool(losses),
                  mean_weight=history["epochs"][-1]["mean_weight"] if history["epochs"] else None)
    return result


def difficulty_section(check: Check, state: RunState) -> dict:
    """Step difficulty with the student before distillation (Eq. 8), then the schedule (Eq. 9-13)."""
    _needs(state, "weigh")
    cfg, result = state.cfg, {}
    meter = FlopMeter(check.device, steps="forward")
    with check.memory(result):
        model, tokenizer = _timed_load(load_student, result, cfg)
        with meter.on(model):
            summary = difficulty.difficulty_file(state.run_dir / "rationales.jsonl", state.run_dir / "weights.jsonl",
                                                 state.run_dir / METHODS["kpod"].difficulty_file, cfg,
                                                 model=model, tokenizer=tokenizer)
    del model, tokenizer
    result["memory"]["allocated_after_release_mib"] = check.release()
    check.against_estimate(state, "difficulty", result["memory"])
    started = time.perf_counter()
    stage_schedule(cfg, state.run_dir, ["kpod"])
    result.update(check.throughput(meter, state), steps_scored=summary["steps"],
                  mean_difficulty=summary["mean_difficulty"], schedule_seconds=round(time.perf_counter() - started, 2))
    if not (summary["mean_difficulty"] is not None and math.isfinite(summary["mean_difficulty"])):
        raise RuntimeError(f"Eq. 8 gave a non-finite mean difficulty: {summary['mean_difficulty']}")
    return result


def distill_section(check: Check, state: RunState) -> dict:
    """Progressive weighted distillation (Eq. 14-15) with `distill.distill`, as the pipeline calls it."""
    _needs(state, "difficulty")
    cfg, result = state.cfg, {}
    weights = [w for _, w in data.read_jsonl(state.run_dir / "weights.jsonl")]
    schedule = Schedule.load(state.run_dir / METHODS["kpod"].schedule_file)
    meter = FlopMeter(check.device, steps="trainer")
    steps = trainer_steps(meter)
    before = check.release()
    with check.memory(result):
        with meter.on():
            returned = distillation.distill(state.rationales, weights, schedule, cfg, state.run_dir / "student",
                                            callbacks=[steps], progress=False)
        when_returned = round(torch.cuda.memory_allocated() / MiB, 1) if check.cuda else None
    result["dtype"] = str(next(returned[0].parameters()).dtype)
    del returned
    after = check.release()
    result["memory"].update(allocated_before_mib=before, allocated_when_distill_returns_mib=when_returned,
                            allocated_after_release_mib=after,
                            released=(after - before <= 64) if check.cuda else None)
    check.against_estimate(state, "distill", result["memory"])
    result.update(check.throughput(meter, state), losses=steps.losses, grad_norms=steps.grad_norms,
                  losses_finite=bool(steps.losses) and all(math.isfinite(x) for x in steps.losses))
    return result


def evaluate_section(check: Check, state: RunState) -> dict:
    """The distilled student answers the test questions greedily (§4), as `stage_evaluate` does."""
    _needs(state, "distill")
    cfg, result = state.cfg, {}
    meter = FlopMeter(check.device, steps="forward")
    with check.memory(result):
        model, tokenizer = _timed_load(evaluate.load_trained, result, state.run_dir / "student" / "model", cfg)
        with meter.on(model):
            summary = evaluate.evaluate_examples(model, tokenizer, state.test_examples, cfg,
                                                 state.run_dir / "predictions.jsonl")
    state.evaluated = (model, tokenizer)  # the generation section compares with this very student
    del model, tokenizer
    check.against_estimate(state, "evaluate", result["memory"])
    result.update(check.throughput(meter, state), questions=summary["questions"],
                  accuracy_random_weights=summary["accuracy"],
                  padding_side=family_of(state.evaluated[0]).generation_padding_side)
    return result


def generation_section(check: Check, state: RunState) -> dict:
    """Batched greedy generation (left-padded for a causal student) against each prompt alone.

    Random weights put the argmax mostly on ids past the stand-in tokenizer's ~1,000 pieces,
    which decode to nothing, and empty texts are equal whatever the padding does; so the rows of
    lm_head past the tokenizer are zeroed first: their logits are 0, a known piece's wins, and
    the texts say what the student wrote. A difference is located (`first_difference_at`, in
    characters): a padding fault shows at the start of most rows; bf16 rounding (the batch's
    other matmul shapes), late in a few."""
    _needs(state, "evaluate")
    model, tokenizer = state.evaluated
    try:
        with torch.no_grad():
            model.get_output_embeddings().weight[len(tokenizer):] = 0
        prompts = evaluate.prompts_for(state.test_examples, state.cfg.cot_prompt)
        batched = evaluate.generate(model, tokenizer, prompts, state.cfg)
        alone = [evaluate.generate(model, tokenizer, [prompt], state.cfg, batch_size=1)[0] for prompt in prompts]
        family = family_of(model)
    finally:
        state.evaluated = None
        del model, tokenizer
    differences = [{"prompt": i, "first_difference_at": next((k for k, (x, y) in enumerate(zip(b, a)) if x != y),
                                                             min(len(b), len(a))),
                    "batched": b, "alone": a} for i, (b, a) in enumerate(zip(batched, alone)) if b != a]
    return {"batch_equals_single": not differences, "prompts": len(prompts),
            "batch_size": state.cfg.generation_batch_size, "padding_side": family.generation_padding_side,
            "max_new_tokens": state.cfg.max_new_tokens, "nonempty_texts": sum(bool(t) for t in batched),
            "distinct_texts": len(set(batched)), "equal_prompts": len(prompts) - len(differences),
            "differences": differences[:3], "first_text": batched[0][:200],
            "allocated_after_release_mib": check.release()}


def overhead_section(check: Check, state: RunState) -> dict:
    """KPOD's trainer (B) against a stock `Trainer` (A) on identical batches, as
    benchmarks/bench_distill_overhead.py compares them, on this run's weights and schedule."""
    from transformers import set_seed

    _needs(state, "difficulty")
    cfg = state.cfg
    tokenizer = load_tokenizer(cfg)
    # The stock collator pads on the tokenizer's side, which is the left for LLaMA's; KPOD's
    # pad_batch pads training batches on the right, and the two arms must see the same batches.
    tokenizer.padding_side = "right"
    weights = checked_inputs(state.rationales, [w for _, w in data.read_jsonl(state.run_dir / "weights.jsonl")],
                                          tokenizer)
    plan = Schedule.load(state.run_dir / METHODS["kpod"].schedule_file)
    name, depth = architecture(check, state.run)
    dtype = student_dtype(cfg, torch.device(check.device))

    def make_model():
        """The run's student, built on the device with the same weights every call (no 27 GB read)."""
        with torch.device(check.device):
            model = build_published(name, depth, dtype=dtype, seed=cfg.seed)
        if cfg.gradient_checkpointing:  # as load_student: transformers 5's name, else 4.x's
            (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
        if model.config.pad_token_id is None:  # as load_student gives a LLaMA the tokenizer's pad
            model.config.pad_token_id = tokenizer.pad_token_id
        set_seed(cfg.seed)
        return apply_lora(model, cfg) if cfg.lora else model

    steps = cfg.epochs * math.ceil(len(state.rationales) / cfg.batch_size)
    args = dataclasses.replace(distillation.training_arguments(cfg, check.workdir / "overhead", progress=False),
                               max_steps=steps, save_strategy="no", logging_nan_inf_filter=False)
    # A's examples: B's of every stage (Eq. 14), tokenised here, outside the timed runs.
    scratch = distillation.ProgressiveDataset(state.rationales, weights, plan, tokenizer, cfg,
                                              family_of(published_config(name, depth)))
    per_epoch = []
    for epoch in range(cfg.epochs):
        scratch.set_stage(epoch)
        per_epoch.append(overhead_arms.plain_examples(scratch.examples))

    def arm(which: str, seen: list):
        if which == "A":
            seconds, trainer = overhead_arms.train_plain(make_model, tokenizer, args, per_epoch, seen)
        else:
            seconds, _, trainer = overhead_arms.train_kpod(make_model, tokenizer, args, state.rationales, weights,
                                                           plan, cfg, seen)
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        del trainer
        gc.collect()
        return seconds[0], losses

    def same(seen: list, reference: list) -> bool:
        return len(seen) == len(reference) == steps and all(
            torch.equal(ia, ib) and torch.equal(la, lb) for (ia, la), (ib, lb) in zip(seen, reference))

    plan_runs = OVERHEAD_RUNS["smoke" if check.smoke else "gpu"]
    reference = []  # the batches of the first run; every other run must train on the same
    if plan_runs["warm_up"]:
        arm("A", reference)
        seen = []
        arm("B", seen)
        if not same(seen, reference):
            raise RuntimeError("the two arms trained on different batches: the comparison would be meaningless")
    seconds, losses = {"A": [], "B": []}, {"A": [], "B": []}
    for repetition in range(plan_runs["repeats"]):
        for which in (("A", "B") if repetition % 2 == 0 else ("B", "A")):  # interleaved: drift hits both
            seen = []
            wall, arm_losses = arm(which, seen)
            reference = reference or seen
            if not same(seen, reference):
                raise RuntimeError(f"arm {which} trained on other batches than the first run: the comparison "
                                   f"would be meaningless")
            seconds[which].append(wall)
            losses[which] += arm_losses
    tokens = sum(int((labels != -100).sum()) for _, labels in reference)
    ratios = [b / a for a, b in zip(seconds["A"], seconds["B"])]
    every_loss = losses["A"] + losses["B"]
    return {"steps": steps, **plan_runs, "target_tokens_per_run": tokens,
            "same_batches": "checked on every run (input ids and labels of every step)",
            "A_stock_trainer": {"wall_seconds": [round(s, 4) for s in seconds["A"]],
                                "tokens_per_s": round(tokens / statistics.median(seconds["A"]), 1)},
            "B_kpod": {"wall_seconds": [round(s, 4) for s in seconds["B"]],
                       "tokens_per_s": round(tokens / statistics.median(seconds["B"]), 1)},
            "per_token_time_ratio_b_over_a": round(statistics.median(ratios), 4),
            "per_repetition": [round(r, 4) for r in ratios],
            "overhead_percent": round(100 * (statistics.median(ratios) - 1), 2),
            "losses_per_epoch": losses, "losses_finite": bool(every_loss) and all(math.isfinite(x) for x in every_loss)}


SECTIONS = (("student", student_section), ("weigh", weigh_section), ("difficulty", difficulty_section),
            ("distill", distill_section), ("evaluate", evaluate_section), ("generation", generation_section),
            ("overhead", overhead_section))


def check_run(check: Check, run: Run) -> None:
    state = RunState(run, check.workdir / run.name.replace("/", "-"))
    try:
        for section, work in SECTIONS:
            result = check.section((run.name, section), check.cap(section, run.family),
                                   lambda work=work: work(check, state))
            if result["status"] == "done":
                state.done.add(section)
    finally:
        state.evaluated = None  # a generation section that did not run leaves the student here
        check.release()


# --- the whole check -------------------------------------------------------------------------------------


def verdicts(report: dict) -> dict:
    """The pass/fail figures of every run, gathered in one place."""
    losses, equal, released, missing = {}, {}, {}, []
    for run, sections in report["sections"].items():
        if run == "device":
            missing += [] if sections["status"] == "done" else ["device"]
            continue
        for name, result in sections.items():
            if result["status"] != "done":
                missing.append(f"{run}/{name}")
            if "losses_finite" in result:
                losses[f"{run}/{name}"] = result["losses_finite"]
        if sections.get("generation", {}).get("status") == "done":
            equal[run] = sections["generation"]["batch_equals_single"]
        if sections.get("distill", {}).get("status") == "done":
            released[run] = sections["distill"]["memory"].get("released")
    return {"no_nan_loss": all(losses.values()) if losses else None, "losses_finite": losses,
            "generation_batch_equals_single": equal, "student_released_after_distill": released,
            "sections_not_done": missing}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"),
                        help="the JSON file (rewritten after every section)")
    parser.add_argument("--budget-s", type=float, default=450.0, help="seconds for everything after the imports")
    parser.add_argument("--llama-depth", type=int, default=32, help="LLaMA-7B's layers (32: all, 13.5 GB in bf16)")
    parser.add_argument("--runs", nargs="+", choices=[r.name for r in RUNS], default=[r.name for r in RUNS])
    parser.add_argument("--smoke", action="store_true", help="the same code at toy size on the CPU (no CUDA calls)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the students and run folders go (a temporary folder inside; LLaMA's is 27 GB)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    options = parser.parse_args(argv)
    if not options.smoke and not torch.cuda.is_available():
        parser.error("no CUDA device here: this check measures a GPU. Run it on the GPU machine, or add --smoke "
                     "to run the same code at toy size on the CPU")
    if not 1 <= options.llama_depth <= 32:
        parser.error(f"--llama-depth must be 1..32, got {options.llama_depth}")
    if options.smoke:  # one thread: on a CPU shared with other jobs two thrash (5x slower under load)
        torch.set_num_threads(1)
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    budget = Budget(options.budget_s)
    report = Report(options.out, {
        "check": "KPOD GPU check: weigh (Eq. 5-7), difficulty (Eq. 8), distill (Eq. 14-15), evaluate (§4) "
                 "on the published architectures with random weights",
        "command": " ".join(["benchmarks/gpu_check.py", *(sys.argv[1:] if argv is None else argv)]),
        "smoke": options.smoke,
        "smoke_note": ("toy size on the CPU: depth 1, width and vocabulary narrowed (SMOKE_SHAPES, in each "
                       "student section), one thread, float32; memory null (no CUDA); the overhead's first "
                       "runs timed (no warm-up)") if options.smoke else None,
        "runs": options.runs,
        "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
        "imports_seconds": round(budget.started - STARTED, 1),
        "budget_s": options.budget_s, "llama_depth": options.llama_depth,
    })
    check = Check(options, report, budget)
    try:
        check.section(("device",), check.cap("device"), lambda: device_section(check))
        for run in RUNS:
            if run.name in options.runs:
                check_run(check, run)
    finally:
        report.data["checks"] = verdicts(report.data)
        report.data["status"] = "complete" if not report.data["checks"]["sections_not_done"] else "incomplete"
        report.data["seconds"] = round(time.perf_counter() - budget.started, 1)
        report.write()
        if not options.keep:
            shutil.rmtree(check.workdir, ignore_errors=True)
    print(json.dumps(_plain(report.data), indent=1, allow_nan=False))
    checks = report.data["checks"]
    failed = (checks["no_nan_loss"] is False or False in checks["generation_batch_equals_single"].values()
              or False in checks["student_released_after_distill"].values())
    return 1 if failed else 0  # a check that failed; sections cut or skipped for time are no failure


if __name__ == "__main__":
    sys.exit(main())
