"""Where a command writes: checked before any work, held by one writer, readable by the group.

Every sub-command that writes declares its outputs with one of two argparse types,
`output_file` (weights.jsonl, predictions.jsonl, schedule.json) or `output_folder` (the
synthetic splits, a distilled student, a data cache). The type checks the path when the
command line is read, before a student is loaded or a teacher is paid: a folder where a file
is expected, a file where a folder is expected, a file in the way of a folder to create, or a
folder this user cannot write is one clear error naming the path and what to do.

`claim` then holds the output for the length of the command, the way `kpod-lite run` holds
its run folder (`hold_run_folder`: a file lock taken without waiting; `busy_message`, the
words `run` uses, when another process has it): a folder output takes a hidden lock in the
folder, a file output one beside the file, and either also takes the `run.lock` (`RUN_LOCK`)
of every run folder it lies in, so a sub-command never writes into a folder a `run` is using.
Two processes given one `--out` therefore never both train and write the same files. The
locks are hidden files so that a folder a sub-command wrote does not pass for a run folder.

`readable_mode` is the mode a new file gets under the process's umask, as `open` would give
it: the atomic writes (`data.write_atomically`) create their temporary file with mode 600 and
set this mode before renaming it into place, so a shared course folder can read the results.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from kpod_lite.errors import OutputError

# The lock `kpod-lite run` holds in its run folder (kpod_lite.pipeline).
RUN_LOCK = "run.lock"


def busy_message(path: Path | str, setting: str = "--out") -> str:
    """What a command says when another one holds its output: the words `run` uses."""
    return f"another kpod-lite run is using {path}; wait for it, or choose another {setting}"


def readable_mode() -> int:
    """0o666 without the bits of the umask: the mode `open` gives a new file."""
    umask = os.umask(0o022)  # reading the umask means setting it; put it back at once
    os.umask(umask)
    return 0o666 & ~umask


def _nearest_existing(path: Path) -> Path:
    """`path` or the first of its parents that exists (the folder `mkdir(parents=True)` starts in)."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def _check_creatable_in(path: Path, setting: str) -> None:
    """Refuse a path whose folders cannot be created or written: a file in the way, no write permission."""
    start = _nearest_existing(path)
    if not start.is_dir():
        raise OutputError(f"{setting} {path}: {start} is a file, not a folder, so nothing can be created "
                          f"under it; choose a path whose folders are folders, or move {start} away")
    if not os.access(start, os.W_OK | os.X_OK):
        raise OutputError(f"{setting} {path}: this user cannot write in {start}; choose a folder you can "
                          f"write, or ask its owner for write permission")


def check_output_file(path: Path | str, setting: str = "--out") -> Path:
    """`path` as a file to write (made or replaced), after checking that it can be: not a
    folder, its folder a folder (or creatable) this user can write in. Raises `OutputError`."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{setting} {path} is a folder, where a file is expected: name the file itself, "
                          f"e.g. {path / 'out.jsonl'}")
    if path.exists() and not path.is_file():
        raise OutputError(f"{setting} {path} exists and is not a regular file; choose another path")
    if path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise OutputError(f"{setting} {path}: this user cannot replace files in {path.parent}; choose a "
                          f"folder you can write, or ask its owner for write permission")
    _check_creatable_in(path.parent, setting)
    return path


def check_output_folder(path: Path | str, setting: str = "--out") -> Path:
    """`path` as a folder to write into (made if missing), after checking that it can be."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{setting} {path} is a file, where a folder is expected: name a folder (it is "
                          f"created if missing), or move the file away")
    _check_creatable_in(path, setting)
    return path


def _argparse_type(check, name: str):
    def parse(text: str) -> Path:
        try:
            return check(text, setting="it")
        except OutputError as error:  # argparse names the option itself: "argument --out: ..."
            raise argparse.ArgumentTypeError(str(error).removeprefix("it ")) from None
    parse.__name__ = name  # what argparse prints for a value it cannot convert
    parse.output_kind = name
    return parse


# The argparse types of the outputs a sub-command writes; `declared_outputs` finds them.
output_file = _argparse_type(check_output_file, "output file")
output_folder = _argparse_type(check_output_folder, "output folder")


def declared_outputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[tuple[str, Path, str]]:
    """(option, path, "output file" or "output folder") of every output `args` names, found by
    the argparse type each option was declared with, so a new sub-command needs no other list."""
    found = []
    for action in parser._actions:
        kind = getattr(action.type, "output_kind", None)
        value = getattr(args, action.dest, None)
        if kind and value is not None:
            option = action.option_strings[-1] if action.option_strings else action.dest
            found.append((option, Path(value), kind))
    return found


def _locks_for(path: Path, kind: str) -> list[tuple[Path, Path]]:
    """(lock file, what it guards) for one output: its own lock, then every enclosing run folder's."""
    path = path.expanduser().absolute()
    own = (path / ".kpod-lite.lock", path) if kind == "output folder" else (path.parent / f".{path.name}.lock", path)
    folders = [path, *path.parents] if kind == "output folder" else list(path.parents)
    return [own, *((folder / RUN_LOCK, folder) for folder in folders if (folder / RUN_LOCK).is_file())]


def _hold(held: contextlib.ExitStack, lock_file: Path, guarded: Path, setting: str) -> None:
    """Take `lock_file` without waiting and release it when `held` closes, or refuse with
    `busy_message`: what both `claim` and `hold_run_folder` do for each lock."""
    from filelock import FileLock, Timeout

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_file), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise OutputError(busy_message(guarded, setting)) from None
    held.callback(lock.release)


@contextlib.contextmanager
def hold_run_folder(run_dir: Path | str, setting: str = "--out") -> Iterator[None]:
    """Hold a run folder's `RUN_LOCK` for the body (`pipeline.run`), or refuse at once with
    `busy_message`: one run per folder, since two would train the same students into the same
    checkpoints. The lock file also marks the folder as a run folder for `claim`."""
    run_dir = Path(run_dir)
    with contextlib.ExitStack() as held:
        _hold(held, run_dir / RUN_LOCK, run_dir, setting)
        yield


def _secondary_rank() -> bool:
    """Whether this is a second or later process of one distributed command (`accelerate launch`,
    `torchrun`: they set RANK): one command, whose first process holds the outputs for all."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and int(os.environ.get("RANK", "0") or 0) != 0


@contextlib.contextmanager
def claim(outputs: Iterable[tuple[str, Path, str]]) -> Iterator[None]:
    """Hold every output (`declared_outputs`) for the body, or refuse at once with `busy_message`.
    The processes of one distributed launch share the first one's hold (`_secondary_rank`)."""
    if _secondary_rank():
        yield
        return
    with contextlib.ExitStack() as held:
        seen: set[Path] = set()
        for option, path, kind in outputs:
            for lock_file, guarded in _locks_for(path, kind):
                if lock_file in seen:
                    continue
                seen.add(lock_file)
                _hold(held, lock_file, guarded, option)
        yield
