"""The rehearsals of the GPU presets (`colab-rehearsal`, `llama-7b-rehearsal`, kpod_lite/config.py):
`kpod-lite run` end to end on the GPU presets' code path, on CPU, as a user would start it.

What each run must show is the path the real students take, not a score (the rehearsal
students have random weights): the published class loaded with `from_pretrained`, the family's
SentencePiece stand-in, the released teacher on MCC-KD-format data, LoRA at the preset's rank
on the family's modules, gradient checkpointing, float32 on a GPU-less machine, the released
rationales rewritten so that no target holds `<unk>` (kpod_lite.symbols), and Algorithm 1's
curriculum: with 2 epochs and T = 1, epoch 1 progressive and epoch 2 whole rationales; and
Table 2's curriculum rows (KPOD-ACL, -SPL, -ICL) on the same path, in the seq2seq rehearsal,
where SPL's confidences underflow (tests/test_curricula.py trains them on both families).
"""

import json
import subprocess
import sys

import pytest
from peft import PeftModel

from kpod_lite.config import preset
from kpod_lite.families import family_of
from kpod_lite.methods import CURRICULUM_ROWS
from kpod_lite.models import load_student
from kpod_lite.schedule import Schedule

REHEARSALS = {  # preset -> (model class name, LoRA rank, LoRA modules); App. A's ranks
    "colab-rehearsal": ("T5ForConditionalGeneration", 128, {"q", "v"}),
    "llama-7b-rehearsal": ("LlamaForCausalLM", 64, {"q_proj", "v_proj"}),
}
# The curriculum rows cost a student each; one rehearsal, the one whose random start is far
# from any target, trains them on the GPU path.
CURRICULA_IN = {"colab-rehearsal": CURRICULUM_ROWS, "llama-7b-rehearsal": ()}


@pytest.fixture(scope="module", params=sorted(REHEARSALS))
def rehearsal(request, tmp_path_factory):
    name = request.param
    out = tmp_path_factory.mktemp(name) / "run"
    result = subprocess.run([sys.executable, "-m", "kpod_lite.cli", "run", "--preset", name, "--out", str(out),
                             "--methods", "plain-cot", "kpod", *CURRICULA_IN[name], "--no-progress"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return name, out, result


def test_the_rehearsal_runs_every_stage_and_reports_both_methods(rehearsal):
    name, out, result = rehearsal
    rows = {row["method"]: row for row in json.loads((out / "results" / "results.json").read_text())["rows"]}
    assert {"before", "plain-cot", "kpod"} <= set(rows)
    summary = json.loads((out / "results" / "summary.json").read_text())
    assert set(summary["seconds_by_stage"]) >= {"teach", "weigh", "difficulty", "schedule", "distill", "evaluate"}
    assert summary["rationales_kept"] > 0 and summary["teacher_accuracy"] > 0.5  # the released teacher
    assert summary.get("student_unk_tokens_left", 0) == 0  # no <unk> left in what the student learns


def test_the_student_is_the_published_family_with_lora_at_the_presets_rank(rehearsal):
    name, out, _ = rehearsal
    cls, rank, modules = REHEARSALS[name]
    cfg = preset(name)
    adapter = json.loads((out / "students" / "kpod" / "seed-0" / "model" / "adapter_config.json").read_text())
    assert adapter["r"] == rank == cfg.lora_rank and set(adapter["target_modules"]) == modules
    base, tokenizer = load_student(cfg, device="cpu")
    assert type(base).__name__ == cls and family_of(base).name == family_of(base.config).name
    assert tokenizer.is_fast and tokenizer.unk_token is not None  # converted from SentencePiece, as the hub gives it
    assert any(getattr(m, "gradient_checkpointing", False) for m in base.modules())
    assert next(base.parameters()).dtype.is_floating_point and str(next(base.parameters()).dtype) == "torch.float32"
    trained = PeftModel.from_pretrained(base, out / "students" / "kpod" / "seed-0" / "model")
    assert any("lora_A" in n for n, _ in trained.named_parameters())


def test_kpod_trains_epoch_1_progressively_and_epoch_2_on_whole_rationales(rehearsal):
    # Algorithm 1 with N_e = 2, T = 1: "if e <= T" the scheduled c_i, "post-epoch T" the complete rationale.
    _, out, _ = rehearsal
    history = json.loads((out / "students" / "kpod" / "seed-0" / "history.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[0]["mean_input_steps"] > 0 and history[0]["full_rationales"] < 1
    assert history[1]["mean_input_steps"] == 0 and history[1]["full_rationales"] == 1
    assert Schedule.load(out / "schedule.json").T == 1


def test_the_curriculum_rows_train_on_the_gpu_path_at_the_scale_of_the_loss(rehearsal):
    """KPOD-ACL, -SPL and -ICL with LoRA, gradient checkpointing and the stand-in tokenizers. The
    random FlanT5 starts near 120 nats a token, where every MC-dropout confidence of SPL
    underflows to 0: its rows must then weigh 1, not 0 (`curricula.spl.row_weights`)."""
    name, out, _ = rehearsal
    if not CURRICULA_IN[name]:
        pytest.skip(f"{name} trains no curriculum row (CURRICULA_IN)")
    histories = {m: json.loads((out / "students" / m / "seed-0" / "history.json").read_text())["history"]
                 for m in ("plain-cot", *CURRICULUM_ROWS)}
    first = {m: h[0]["loss"] for m, h in histories.items()}
    assert all(len(h) == 2 and all(row["loss"] > 0 for row in h) for h in histories.values())
    assert first["kpod-spl"] > 0.1 * first["plain-cot"], first
    assert [row["completion_ratio"] for row in histories["kpod-icl"]] == [0.6, 0.0]
    for method in CURRICULUM_ROWS:
        assert (out / "students" / method / "seed-0" / "model" / "adapter_config.json").is_file()
