r"""Progressive, keypoint-weighted distillation of rationales into the student (Eq. 14-15, §3.5).

Plain CoT distillation (Ho et al., 2023; the paper's Eq. 1) trains the student to write the
whole rationale r and then the answer y, every token counting the same:

    L = - Σ_i Σ_j log P(r_j | r_<j, x) - Σ_i Σ_j log P(y_j | y_<j, r, x)             (Eq. 1)

KPOD changes two things, and this module is where both meet the student.

**What the student is asked to write at stage t (Eq. 14).** One stage is one epoch (App. A).
The schedule (`kpod_lite.schedule`, Eq. 9-13) gives every question i a number c_i(t) of
*input steps*: the student reads the question and the first c_i(t) steps of its rationale,
and learns to write the rest. Steps are §3.4's "."-steps (`kpod_lite.data.split_steps`)::

    input  = "Q: <x>\nA: Let's think step by step. <r_1> ... <r_c>"
    target = "<r_{c+1}> ... <r_n> Therefore, the answer is <y>."

The input is the §3.1 template followed by the given steps (`kpod_lite.templates.student_prompt`);
the target is `kpod_lite.templates.format_rationale_target` of the remaining steps. As t grows
c_i(t) falls to 0, and after epoch T every question writes its whole rationale (Algorithm 1:
epochs 1..T train stages 0..T-1). For a seq2seq student (FlanT5) input and target feed the encoder and the
decoder; for a causal student (LLaMA) they are one sequence and the input part carries the
label -100, so only the target is learned.

**How much each target token counts (Eq. 15).** Token j of the remaining rationale is
weighted by its significance w_j ∈ (0, 1) from the token weighting module (§3.3, Eq. 3)::

    L_o(t) = - Σ_i Σ_{j = p_{c_i(t)+1}}^{q_{n_i}} w_j log P(r_j | r_<j, x)              (Eq. 15)

plus the answer term of Eq. 1, which §3.5 leaves out "for the sake of clarity, as it remains
constant": the tokens of "Therefore, the answer is <y>." and the end-of-sequence token keep
weight 1. Weights are stored per token of the *rationale alone* (`{"id", "sample", "tokens",
"offsets", "weights"}`, offsets are characters of the rationale); the target is tokenised
again with offsets, and each target token takes the weight of the rationale token that
covers most of its characters. The target is tokenised as the rationale is
(`kpod_lite.templates.encode_student_example`), so where a stage's target starts with the
first step the two tokenisations agree, and that is exactly the token's own weight.

Normalisation (ours; the paper writes plain sums). A batch's loss is

    loss = Σ_{target tokens j} w_j · NLL_j  /  (number of target tokens in the batch)

so with every w_j = 1 it is the ordinary mean token cross-entropy that `transformers` models
compute themselves (`weighted_token_loss`; tested). Dividing by the token count rather than
by Σ w_j keeps the weights meaningful: low weights really do shrink a token's gradient
instead of being normalised away, and the learning rate keeps the scale it has for plain
fine-tuning. With gradient accumulation the Trainer averages the per-micro-batch means.

Ablations (Table 2) and the baseline
------------------------------------
`config.method` names a row of `kpod_lite.methods.METHODS`. Here only two of its switches
matter: token weights (w_j, or all 1 for w.o.-sig and plain CoT) and progressive inputs (the
schedule's c_i(t), or c_i = 0 for w.o.-prog and plain CoT). w.o.-sig-dif and w.o.-div only
change how the schedule was built, which is an input here.

The Trainer integration
-----------------------
`KPODTrainer` is a `transformers.Trainer` whose `compute_loss` is Eq. 15 with the per-token
weights carried in the batch (`pad_batch` pads them with the labels). `CurriculumCallback`
moves the curriculum: at the start of every epoch it rebuilds the stage-t examples from
`schedule.input_steps(t)` in place, inside the dataset the Trainer's data loader already
holds (the number of examples never changes, only their text). Everything else is the
ecosystem's: Adam(W), mixed precision (bf16 on GPUs that support it), gradient accumulation,
gradient checkpointing, logging, and several processes through `accelerate`.

A checkpoint is written every epoch (`<out>/checkpoints/checkpoint-<step>`); the callback's
state (the next stage) is saved in its `trainer_state.json` and restored on resume, so a run
killed between epochs and resumed with `resume=True` ends with the same weights as one that
never stopped (tested on CPU). The final student is saved with `save_pretrained` (safetensors;
the LoRA adapter alone when `config.lora`) in `<out>/model`, with its tokenizer.

Several processes: the Trainer runs data-parallel under `accelerate launch` (or `torchrun`).
Checked with 2 CPU processes (DDP over gloo) against one process with the same total batch::

    accelerate launch --multi_gpu --num_processes 2 benchmarks/accelerate_smoke.py --out runs/smoke-2

On a machine without a GPU, `--multi_gpu` starts the 2 processes on the CPU. (With accelerate
1.15, `accelerate launch --cpu --num_processes 2` starts a single process: its multi-CPU
launcher goes through MPI's `mpirun`.) Under DDP each process takes `config.batch_size`
examples per step, so the total batch is that times the number of processes.

>>> from kpod_lite.config import preset
>>> model, tokenizer, history = distill(rationales, weights, schedule, preset("tiny"), "runs/x")  # doctest: +SKIP
"""

from __future__ import annotations

from kpod_lite.distill.examples import pad_batch, split_at_step, stage_examples, target_token_weights
from kpod_lite.distill.run import distill, distill_files
from kpod_lite.distill.trainer import (
    TRAINER_FIELDS,
    CurriculumCallback,
    EpochAccuracyCallback,
    KPODTrainer,
    KPODTrainingArguments,
    ProgressiveDataset,
    training_arguments,
    weighted_token_loss,
)

__all__ = [
    "split_at_step",
    "target_token_weights",
    "stage_examples",
    "pad_batch",
    "weighted_token_loss",
    "ProgressiveDataset",
    "KPODTrainer",
    "CurriculumCallback",
    "EpochAccuracyCallback",
    "KPODTrainingArguments",
    "TRAINER_FIELDS",
    "training_arguments",
    "distill",
    "distill_files",
]
