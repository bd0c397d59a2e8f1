"""The files a command resumes from or loads, checked before it relies on them.

A run folder's config.json and stages.json, a saved student (its config, its safetensors
weights, its tokenizer) and the checkpoint a distillation resumes from are written by
kpod-lite, but a killed copy, a full disk or a hand edit can leave them cut or broken. Each
check here reads such a file the way the command will and turns what is wrong into a
`DataFormatError` that names the file (and the line, the field or the tensor) and what to do:
never a bare JSONDecodeError, a SafetensorError or a tokenizer that blames a missing
library.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from kpod_lite.data import read_json_object
from kpod_lite.data.records import DataFormatError

_REBUILD = "re-run with --force (force=True) to rebuild the folder (the teacher's cache is kept), or restore the file"

# The files a `transformers` tokenizer is saved as; a student folder needs one of them.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt",
                   "sentencepiece.bpe.model")


def read_run_settings(run_dir: Path | str) -> dict | None:
    """The run folder's config.json (the settings its stages were made with), checked to be a
    JSON object; None when the folder has none yet."""
    path = Path(run_dir) / "config.json"
    return read_json_object(path, "the run folder's settings", _REBUILD) if path.exists() else None


def read_stage_records(run_dir: Path | str) -> dict:
    """The run folder's stages.json (`pipeline.made.record`: for each finished stage, the
    sha256 of every file it read), checked; empty when the folder has none yet."""
    path = Path(run_dir) / "stages.json"
    if not path.exists():
        return {}
    records = read_json_object(path, "the digests of the files each stage read", _REBUILD)
    for stage, record in records.items():
        inputs = record.get("inputs") if isinstance(record, dict) else None
        if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
            raise DataFormatError(path, None, f"{stage}.inputs", "should map each file the stage read to "
                                  f"its sha256; {_REBUILD}")
    return records


def check_run_folder(run_dir: Path | str) -> None:
    """The run folder's state files, if there: config.json and stages.json, read as a re-run
    reads them (`pipeline.made.check_reuse`)."""
    read_run_settings(run_dir)
    read_stage_records(run_dir)


def check_safetensors(path: Path | str, remedy: str) -> None:
    """A safetensors file whose header parses and whose tensors all lie inside the file.

    The format is an 8-byte little-endian header length, a JSON header giving each tensor's
    byte range, then the bytes; a file cut while being written or copied ends before the last
    range does, which is the error named here instead of deep inside the loader.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        start = handle.read(8)
        if len(start) < 8:
            raise DataFormatError(path, None, None, f"{size} bytes: too short to be a safetensors file; {remedy}")
        (header_length,) = struct.unpack("<Q", start)
        if header_length > size - 8:
            raise DataFormatError(path, None, None, f"the header says it is {header_length} bytes, the file holds "
                                  f"{size}: not a safetensors file, or cut short; {remedy}")
        try:
            header = json.loads(handle.read(header_length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DataFormatError(path, None, None, f"its header is not JSON: not a safetensors file, or "
                                  f"damaged; {remedy}") from None
    if not isinstance(header, dict):
        raise DataFormatError(path, None, None, f"its header is not a JSON object; {remedy}")
    data = size - 8 - header_length
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        offsets = tensor.get("data_offsets") if isinstance(tensor, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise DataFormatError(path, None, name, f"no byte range in the header; {remedy}")
        if offsets[1] > data:
            raise DataFormatError(path, None, name, f"the tensor ends at byte {offsets[1]} of the data, which holds "
                                  f"{data}: the file was cut short (a copy or a write that did not finish); {remedy}")


def check_student_folder(folder: Path | str, setting: str = "--model") -> None:
    """A saved student (distill's model/, or a local teacher): its config, weights and tokenizer.

    A folder that does not exist is left to the loader, which says what to give instead.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    remedy = (f"{setting} {folder} needs the whole folder kpod-lite distill wrote (or save_pretrained writes); "
              f"copy it again, or distill the student again")
    lora = (folder / "adapter_config.json").is_file()
    if lora:
        read_json_object(folder / "adapter_config.json", "the LoRA adapter's settings", remedy)
        weights = sorted(folder.glob("adapter_model*.safetensors"))
    else:
        if not (folder / "config.json").is_file():
            raise DataFormatError(folder, None, None, f"holds no config.json (nor adapter_config.json): not a saved "
                                  f"model; {remedy}")
        read_json_object(folder / "config.json", "the model's settings", remedy, fields=("model_type",))
        weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise DataFormatError(folder, None, None, f"holds no {'adapter_model' if lora else 'model'}.safetensors "
                              f"(kpod-lite loads safetensors only); {remedy}")
    for file in weights:
        check_safetensors(file, remedy)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise DataFormatError(folder, None, None, f"holds no tokenizer (none of {', '.join(TOKENIZER_FILES)}): the "
                              f"student was saved without it. Save the tokenizer of the student it was trained "
                              f"from into it (AutoTokenizer.from_pretrained(STUDENT).save_pretrained('{folder}')), "
                              f"or copy the folder again")


def check_resume_checkpoint(out_dir: Path | str) -> Path | None:
    """The checkpoint `distill --resume` will continue from (the newest complete one, as
    `distill` picks it), checked: its trainer_state.json and its safetensors weights."""
    from kpod_lite.distill.run import checkpoint_to_resume

    found = checkpoint_to_resume(True, Path(out_dir) / "checkpoints")
    if found is None:
        return None
    checkpoint = Path(found)
    remedy = (f"delete {checkpoint} to resume from the checkpoint before it, or run without --resume "
              f"to start over")
    read_json_object(checkpoint / "trainer_state.json", "the Trainer's state", remedy, fields=("global_step",))
    for file in sorted(checkpoint.glob("*.safetensors")):
        check_safetensors(file, remedy)
    return checkpoint
