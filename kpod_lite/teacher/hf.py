"""The local teacher: a `transformers` model, batched, asked in two stages like the API teacher.

Stage 1 continues "Q: <x>\\nA: <p>" into the reasoning z; stage 2 continues the prompt, z and
the answer trigger into the answer, greedily (Kojima et al., 2022; §3.1).
"""

from __future__ import annotations

import re

from kpod_lite.teacher.protocol import EXTRACTION_MAX_TOKENS, TeacherOutput, request_seed
from kpod_lite.families import family_of
from kpod_lite.templates import ZERO_SHOT_COT_PROMPT, build_prompt, extraction_prompt


class HFTeacher:
    """A local `transformers` model as the teacher, in two stages like `OpenAITeacher`.

    Seq2seq (T5) and causal (LLaMA) models both work; causal ones are padded on the left so
    that every prompt in a batch ends where generation starts. Greedy at temperature 0,
    sampling above it; a seeded, forked random state keeps sampling reproducible for the same
    batches without touching the caller's. Uses the GPU when there is one.
    """

    def __init__(
        self,
        model_name_or_path: str,
        *,
        batch_size: int = 8,
        device: str | None = None,
        two_stage: bool = True,
        cot_prompt: str = ZERO_SHOT_COT_PROMPT,
    ):
        import torch
        import transformers
        from transformers import AutoConfig, AutoTokenizer

        self.name = f"hf:{model_name_or_path}"
        self.batch_size = max(1, batch_size)
        self.two_stage = two_stage
        self.cot_prompt = cot_prompt
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        config = AutoConfig.from_pretrained(model_name_or_path, trust_remote_code=False)
        self.family = family_of(config)  # seq2seq or causal, as for a student (kpod_lite.families)
        from kpod_lite.models import bf16_supported

        dtype = torch.bfloat16 if self.device.type == "cuda" and bf16_supported() else torch.float32
        # transformers renamed `torch_dtype` to `dtype` (4.56); Colab may still have the old one.
        dtype_argument = "dtype" if _version_at_least(transformers.__version__, (4, 56)) else "torch_dtype"
        # safetensors only, as for the students: a pickled pytorch_model.bin can run code on load.
        self.model = self.family.model_class.from_pretrained(model_name_or_path, trust_remote_code=False,
                                                             use_safetensors=True, **{dtype_argument: dtype})
        self.model.to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, trust_remote_code=False)
        self.tokenizer.padding_side = self.family.generation_padding_side
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def generate(self, requests, *, temperature, max_tokens, seed):
        for start in range(0, len(requests), self.batch_size):
            batch = list(requests[start: start + self.batch_size])
            prompts = [build_prompt(r.example.question, r.example.choices, self.cot_prompt) for r in batch]
            batch_seed = request_seed(seed, batch[0].example.id, batch[0].sample)
            reasonings = self._continue(prompts, temperature, max_tokens, batch_seed)
            answers: list[str | None] = [None] * len(batch)
            if self.two_stage:
                second = [extraction_prompt(p, z, r.example.answer_kind) for p, z, r in zip(prompts, reasonings, batch)]
                answers = self._continue(second, 0.0, EXTRACTION_MAX_TOKENS, batch_seed)
            for request, reasoning, answer in zip(batch, reasonings, answers):
                yield request, TeacherOutput(reasoning=reasoning, answer_text=answer)

    def _continue(self, prompts: list[str], temperature: float, max_new_tokens: int, seed: int) -> list[str]:
        import torch

        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        options = dict(max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id)
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature, top_k=0, top_p=1.0)
        else:
            options.update(do_sample=False)
        from kpod_lite.models.loading import model_cuda_devices

        # The model's own GPU only: forking every visible one would create a CUDA context on each.
        with torch.random.fork_rng(devices=model_cuda_devices(self.model)), torch.no_grad():
            torch.manual_seed(seed)
            output = self.model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                         **options)
        output = self.family.generated_tokens(output, inputs["input_ids"].shape[1])
        return self.tokenizer.batch_decode(output, skip_special_tokens=True)


def _version_at_least(version: str, wanted: tuple[int, ...]) -> bool:
    numbers = tuple(int(part) for part in re.findall(r"\d+", version)[: len(wanted)])
    return numbers >= wanted
