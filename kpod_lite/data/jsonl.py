"""Records on disk as JSON Lines, written so that a crash loses at most the line in flight.

`append_jsonl` writes one fsync'ed line at a time and `read_jsonl(...,
tolerate_truncated_tail=True)` skips the torn last line a killed process leaves, which is
what the teacher cache needs; `write_atomically` and `write_jsonl` replace a whole file at
once, so a pipeline stage's output either exists complete or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kpod_lite.data.records import DataFormatError
from kpod_lite.outputs import readable_mode

# One logger for the whole data layer, named as before it became a package: `kpod-lite -v`
# prints the name, and callers filter on it.
logger = logging.getLogger("kpod_lite.data")


def _jsonl_objects(path: str | os.PathLike) -> Iterator[tuple[int, Any, bool]]:
    """(line number, parsed object or DataFormatError, whether that line lacks its newline)."""
    with open(path, "rb") as handle:  # bytes: split on "\n" only, never on U+2028 in a string
        for line_no, raw in enumerate(handle, start=1):
            unterminated = not raw.endswith(b"\n")
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
            except UnicodeDecodeError as error:
                message = f"not valid UTF-8 ({error.reason})"
                yield line_no, DataFormatError(path, line_no, None, message), unterminated
                continue
            except json.JSONDecodeError as error:
                message = f"invalid JSON: {error.msg} (column {error.colno})"
                yield line_no, DataFormatError(path, line_no, None, message), unterminated
                continue
            yield line_no, obj, False


def read_jsonl(
    path: str | os.PathLike, *, tolerate_truncated_tail: bool = False
) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line number, object) for each non-blank line of a JSON Lines file.

    A line that is not a JSON object raises `DataFormatError` with its line number. With
    ``tolerate_truncated_tail=True`` the one exception is the last line when it lacks its
    newline and does not parse: that is what a process killed in the middle of
    `append_jsonl` leaves behind, and it is skipped. A bad line anywhere else still raises.
    """
    for line_no, obj, unterminated in _jsonl_objects(path):
        if isinstance(obj, DataFormatError):
            if tolerate_truncated_tail and unterminated:
                logger.warning("%s:%d: ignoring a truncated last line", path, line_no)
                return
            raise obj
        if not isinstance(obj, dict):
            raise DataFormatError(path, line_no, None, f"expected a JSON object, got {type(obj).__name__}")
        yield line_no, obj


def _dump_line(record: dict) -> bytes:
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def _drop_torn_tail(path: Path) -> None:
    """Before appending: a last line without its newline is a torn write (drop it) or a
    hand-written file without a final newline (end it), so the new line stands alone.

    Only the end of the file is read, so an append costs the same however large the cache is.
    """
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        # Walk back block by block to the start of the last line.
        cut, block = size, 1 << 16
        while cut > 0:
            start = max(0, cut - block)
            handle.seek(start)
            newline = handle.read(cut - start).rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            cut = start
        handle.seek(cut)
        tail = handle.read()
    try:
        json.loads(tail.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        logger.warning("%s: dropping a truncated last line before appending", path)
        with open(path, "r+b") as handle:
            handle.truncate(cut)
        return
    with open(path, "ab") as handle:
        handle.write(b"\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON object as one line, flushed and fsync'ed before returning.

    The line is written with a single write() on a file opened for appending, so a crash
    leaves at worst a last line without its newline, which `read_jsonl` can be told to
    ignore and the next append removes. Meant for one writer at a time.
    """
    if not isinstance(record, dict):
        raise TypeError(f"append_jsonl writes dicts, got {type(record).__name__}")
    line = _dump_line(record)  # serialise first: a TypeError must not leave half a line
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        _drop_torn_tail(path)
    with open(path, "ab") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomically(path: str | os.PathLike, content: str | bytes) -> None:
    """Write a whole file next to its destination and rename it into place.

    A reader sees the old file or the new one, never half of one; a pipeline stage whose
    output exists therefore finished. The file gets the mode `open` would give it under the
    umask (`outputs.readable_mode`), not the 600 of a temporary file, so a group can read it.
    """

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = content.encode("utf-8") if isinstance(content, str) else content
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, readable_mode())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json_file(path: str | os.PathLike, what: str, remedy: str) -> Any:
    """The JSON value of a state file (a run folder's config.json or stages.json, a summary),
    or a `DataFormatError` naming the file, the line and column, `what` the file is and the
    `remedy` (e.g. "delete it to rebuild"): a hand-edited or cut file, never a bare
    JSONDecodeError."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataFormatError(path, None, None, f"{what} is not UTF-8 text ({error.reason}); {remedy}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataFormatError(path, error.lineno, None, f"{what} is not valid JSON ({error.msg}, column "
                              f"{error.colno}): it was cut or edited by hand; {remedy}") from None


def read_json_object(path: str | os.PathLike, what: str, remedy: str, fields: tuple[str, ...] = ()) -> dict:
    """`read_json_file` for a file that holds one JSON object with `fields`."""
    value = read_json_file(path, what, remedy)
    if not isinstance(value, dict):
        raise DataFormatError(path, None, None, f"{what} should hold a JSON object, not a "
                              f"{type(value).__name__}; {remedy}")
    for field in fields:
        if field not in value:
            raise DataFormatError(path, None, field, f"missing from {what}; {remedy}")
    return value


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Write records as JSON Lines, atomically (see `write_atomically`)."""
    write_atomically(path, b"".join(_dump_line(record) for record in records))
