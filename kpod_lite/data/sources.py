"""The paper's benchmarks by name: downloaded once from their public source, checked, cached.

KPOD is evaluated on GSM8K, ASDiv, SVAMP and CommonsenseQA (§4.1), on the splits of Table 4
(App. A), which come from MCC-KD (Chen et al., 2023) together with GPT-3.5 rationales. `SOURCES`
names where each file lives, which `kpod_lite.data` loader reads it and under which licence;
`fetch("svamp")` puts the files in a cache folder and returns their paths.

How a file is checked (sha256):

* a digest recorded in the registry (`SourceFile.sha256`) or passed by the caller is the pin;
* otherwise the digest the cache recorded the first time (``<cache>/<name>/SHA256SUMS``, in
  the format of ``sha256sum``) is: trust on first use, with a warning that kpod-lite itself
  has no recorded checksum for that file. None of the real files' digests is recorded yet:
  they could not be computed where this module was written (no internet), and none is invented;
* every use re-hashes the cached file (a few MB, milliseconds) and refuses a mismatch, naming
  the file, both digests and what to do; a download that does not match is not kept.

A download streams into a hidden ``.part`` file next to its destination, hashing as it goes,
and is renamed into place only when complete (as many bytes as Content-Length promised, the
digest right), so a killed or cut download never leaves a file that looks finished; a rerun
starts over. One lock per source folder keeps two processes from writing the same file.

Mirrors (`mirror=` or ``$KPOD_DATA_MIRROR``) are laid out like the cache,
``<mirror>/<name>/<file name>``, so a copied cache folder (or a local folder given as a plain
path) serves as one; the tests point the same code at a loopback HTTP server that way.

A pipeline config names a source split as ``"<name>:<split>"`` in `train_file` / `test_file`
(`resolve_data_file`), e.g. ``"mcckd-gsm8k:train"``; an existing path always wins.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from kpod_lite.data.jsonl import write_atomically
from kpod_lite.data.loaders import FORMATS
from kpod_lite.data.records import DataFormatError
from kpod_lite.errors import ConfigError

logger = logging.getLogger("kpod_lite.data")

CACHE_ENV = "KPOD_DATA_CACHE"
MIRROR_ENV = "KPOD_DATA_MIRROR"
CHECKSUMS_FILE = "SHA256SUMS"
DEFAULT_TIMEOUT = 60.0  # seconds without a byte before a download is given up
_CHUNK = 1 << 16
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SOURCE_SPLIT = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]*):([A-Za-z0-9_-]+)")


class FetchError(FileNotFoundError):
    """A named data file that could not be had intact: offline, an HTTP error, a cut download,
    or a checksum mismatch. A `FileNotFoundError`, so every caller that reports a missing data
    file in one line (the CLI) reports this one the same way."""


@dataclass(frozen=True)
class SourceFile:
    """One file of a source: where it is published and, once known, its sha256."""

    url: str
    sha256: str | None = None  # None: not yet recorded by kpod-lite (trust on first use)

    def __post_init__(self) -> None:
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            raise ConfigError(f"{self.url}: sha256 must be 64 lower-case hex digits, got {self.sha256!r}")

    @property
    def filename(self) -> str:
        return Path(urllib.parse.urlparse(self.url).path).name


@dataclass(frozen=True)
class DataSource:
    """A named data set: its files by split, the loader format that reads them, its licence."""

    name: str
    format: str  # a kpod_lite.data.FORMATS name
    licence: str
    homepage: str
    files: Mapping[str, SourceFile] = field(default_factory=dict)
    note: str = ""  # said in the docs and in a download error

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"source {self.name!r}: unknown format {self.format!r}; choose one of {FORMATS}")
        names = [f.filename for f in self.files.values()]
        if len(set(names)) != len(names):
            raise ConfigError(f"source {self.name!r}: two splits share a file name ({names}); the cache keys on it")


_GSM8K = "https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data"
_MCCKD = "https://raw.githubusercontent.com/homzer/MCC-KD/1adf527a059b59a203c08f7f705016aa4db122a4/data"
_MCCKD_NOTE = ("Table 4 splits with GPT-3.5 rationales (MCC-KD, Chen et al. 2023), pinned to commit 1adf527; "
               "'output' is a list of rationales in train. Only SVAMP's train.json is confirmed at that path; "
               "the others are expected at the same path.")


def _mcckd(name: str, folder: str) -> DataSource:
    return DataSource(name, "instruction", "no licence file in the repository; the underlying data set's applies",
                      "https://github.com/homzer/MCC-KD",
                      {split: SourceFile(f"{_MCCKD}/{folder}/{split}.json") for split in ("train", "dev", "test")},
                      note=_MCCKD_NOTE)


SOURCES: dict[str, DataSource] = {source.name: source for source in (
    DataSource("gsm8k", "gsm8k", "MIT", "https://github.com/openai/grade-school-math",
               {"train": SourceFile(f"{_GSM8K}/train.jsonl"), "test": SourceFile(f"{_GSM8K}/test.jsonl")},
               note="branch master, not pinned to a commit: the recorded checksum catches a change"),
    DataSource("svamp", "svamp", "MIT", "https://github.com/arkilpatel/SVAMP",
               {"all": SourceFile("https://raw.githubusercontent.com/arkilpatel/SVAMP/main/SVAMP.json")},
               note="1,000 problems in one file, no train/test split (Table 4's split: mcckd-svamp)"),
    DataSource("asdiv", "asdiv", "CC BY-NC 4.0", "https://github.com/chaochun/nlu-asdiv-dataset",
               {"all": SourceFile("https://raw.githubusercontent.com/chaochun/nlu-asdiv-dataset/master/dataset/ASDiv.xml")},
               note="one file, no train/test split (Table 4's split: mcckd-asdiv)"),
    DataSource("csqa", "csqa", "MIT (as the Hugging Face card tau/commonsense_qa lists it)",
               "https://www.tau-nlp.org/commonsenseqa",
               {"train": SourceFile("https://s3.amazonaws.com/commensenseqa/train_rand_split.jsonl"),
                "dev": SourceFile("https://s3.amazonaws.com/commensenseqa/dev_rand_split.jsonl")},
               note="the random split; its test file has no answers, so it is not listed"),
    _mcckd("mcckd-gsm8k", "GSM8K"),
    _mcckd("mcckd-asdiv", "ASDiv"),
    _mcckd("mcckd-svamp", "SVAMP"),
    _mcckd("mcckd-csqa", "CSQA"),
)}


def data_cache_dir() -> Path:
    """Where fetched files live: ``$KPOD_DATA_CACHE``, else ``~/.cache/kpod-lite/data`` (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path.home() / ".cache" / "kpod-lite" / "data"


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file, read in chunks (hex, lower case)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksums(folder: str | os.PathLike) -> dict[str, str]:
    """{file name: sha256} from ``<folder>/SHA256SUMS`` (``sha256sum`` format; none if absent)."""
    path = Path(folder) / CHECKSUMS_FILE
    if not path.exists():
        return {}
    recorded = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if not _SHA256.fullmatch(digest) or not name:
            raise DataFormatError(path, line_no, None, f"expected '<64 hex digits>  <file name>', got {line!r}; "
                                                       "fix the line or delete it (the file is re-checked on next use)")
        recorded[name.lstrip("*")] = digest
    return recorded


def _record_checksum(folder: Path, filename: str, digest: str) -> None:
    recorded = read_checksums(folder)
    if recorded.get(filename) == digest:
        return
    recorded[filename] = digest
    write_atomically(folder / CHECKSUMS_FILE, "".join(f"{d}  {n}\n" for n, d in sorted(recorded.items())))


def _mismatch(path: Path, expected: str, got: str, where: str) -> FetchError:
    return FetchError(f"{path}: sha256 mismatch: expected {expected} ({where}), got {got}; delete the cached file "
                      f"and its line in {path.parent / CHECKSUMS_FILE} to accept the new file, or update the pin "
                      f"if the source changed on purpose")


def source_url(source: DataSource, split: str, mirror: str | None = None) -> str:
    """The URL a split is fetched from: its own, or ``<mirror>/<name>/<file name>`` (a local folder
    given as a plain path becomes a file:// URL)."""
    file = source.files[split]
    if not mirror:
        return file.url
    if "://" not in mirror:
        mirror = Path(mirror).expanduser().resolve().as_uri()
    return f"{mirror.rstrip('/')}/{source.name}/{file.filename}"


def _download(url: str, target: Path, expected: str | None, timeout: float, note: str) -> str:
    """Stream `url` into a hidden part file next to `target`, hash it, rename it into place.

    Returns the digest. Anything short of a complete, matching file raises `FetchError` and
    leaves no part file behind; a part file a killed process left is removed by the next call
    (the caller holds the folder's lock, so no other download is writing it).
    """
    for stale in target.parent.glob(f".{target.name}.*.part"):
        stale.unlink(missing_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "kpod-lite"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        hint = f" ({note})" if note else ""
        raise FetchError(f"{url}: HTTP {error.code} {error.reason}; nothing was downloaded to {target}{hint}; "
                         f"check the URL, or download the file by hand to {target}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            raise FetchError(f"{url}: no answer within {timeout:g} s; the server is slow or you are offline: try "
                             f"again, or download it by hand to {target}") from None
        raise FetchError(f"could not reach {url}: {reason}; you seem to be offline: download it by hand to "
                         f"{target}, or set train_file to a local copy") from None
    descriptor, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    received, digest = 0, hashlib.sha256()
    try:
        with response, os.fdopen(descriptor, "wb") as handle:
            promised = response.headers.get("Content-Length")
            try:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
                    received += len(chunk)
            except (http.client.HTTPException, OSError) as error:
                raise FetchError(f"{url}: the download stopped after {received} bytes ({error!r}); nothing was "
                                 f"kept at {target}; run again to start over") from None
            if promised is not None and received != int(promised):
                raise FetchError(f"{url}: got {received} of the {promised} bytes promised; nothing was kept at "
                                 f"{target}; run again to start over")
            handle.flush()
            os.fsync(handle.fileno())
        got = digest.hexdigest()
        if expected is not None and got != expected:
            raise FetchError(f"{url}: sha256 mismatch: expected {expected}, got {got}; the download was not kept; "
                             f"if the source changed on purpose, update the pin (or delete the line for "
                             f"{target.name} in {target.parent / CHECKSUMS_FILE})")
        os.replace(part, target)
        return got
    finally:
        Path(part).unlink(missing_ok=True)


def _source(name: str | DataSource) -> DataSource:
    if isinstance(name, DataSource):
        return name
    if name not in SOURCES:
        raise ConfigError(f"unknown data source {name!r}; choose one of {', '.join(SOURCES)}")
    return SOURCES[name]


def source_settings(name: str) -> dict:
    """The `KPODConfig` settings that train and test on source `name`: its train split and its
    test split (dev where it has none, as CommonsenseQA's labelled test is its dev set) named
    "<name>:<split>" (fetched on first use), its loader format and the benchmark it is.

    >>> source_settings("mcckd-svamp")["test_file"]
    'mcckd-svamp:test'
    """
    source = _source(name)
    if "train" not in source.files:
        raise ConfigError(f"data source {name!r} has no train split ({source.note}); choose one with a train "
                          f"split: {', '.join(n for n, s in SOURCES.items() if 'train' in s.files)}")
    test = "test" if "test" in source.files else "dev"
    return {"train_file": f"{name}:train", "test_file": f"{name}:{test}", "data_format": source.format,
            "dataset": name.removeprefix("mcckd-")}


def fetch(
    name: str | DataSource,
    split: str | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    mirror: str | None = None,
    sha256: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Path]:
    """{split: cached path} for one split of a source, or all of them (`split=None`).

    A file already in ``<cache_dir>/<name>/`` is verified, not downloaded again; a missing one
    comes from its URL (or `mirror`, default ``$KPOD_DATA_MIRROR``). `sha256` pins digests by
    split, over the registry's. See the module docstring for how checksums are kept.
    """
    source = _source(name)
    splits = list(source.files) if split is None else [split]
    unknown = [s for s in splits if s not in source.files]
    if unknown:
        raise ConfigError(f"data source {source.name!r} has no split {unknown[0]!r}; it has {', '.join(source.files)}")
    pins = dict(sha256 or {})
    for key, digest in pins.items():
        if key not in source.files or not _SHA256.fullmatch(str(digest)):
            raise ConfigError(f"sha256 pin {key!r}: {digest!r}; expected a split of {source.name!r} "
                              f"({', '.join(source.files)}) and 64 lower-case hex digits")
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    folder = Path(cache_dir).expanduser() if cache_dir is not None else data_cache_dir()
    folder = folder / source.name
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    with FileLock(str(folder / ".lock")):
        for s in splits:
            file = source.files[s]
            target = folder / file.filename
            pin = pins.get(s) or file.sha256
            recorded = read_checksums(folder).get(file.filename)
            expected = pin or recorded
            where = "pinned" if pin else f"recorded in {folder / CHECKSUMS_FILE}"
            if target.exists():
                got = file_sha256(target)
                if expected is not None and got != expected:
                    raise _mismatch(target, expected, got, where)
            else:
                got = _download(source_url(source, s, mirror), target, expected, timeout, source.note)
            if expected is None:
                logger.warning("%s: kpod-lite has no recorded checksum for %s %s; recorded the sha256 it saw, %s, "
                               "in %s, and every later use is checked against it", target, source.name, s, got,
                               folder / CHECKSUMS_FILE)
            _record_checksum(folder, file.filename, got)
            paths[s] = target
    return paths


def resolve_data_file(
    value: str | os.PathLike,
    fmt: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    mirror: str | None = None,
) -> tuple[Path, str]:
    """(path, loader format) for a config's `train_file` / `test_file` / OOD `file`.

    An existing path is itself, read in `fmt`. Otherwise a value ``"<name>:<split>"`` naming a
    source in `SOURCES` is fetched, and read in the source's own format (its file holds only
    that one). Anything else is returned as a path, so the loader names the missing file.
    """
    path = Path(value).expanduser()
    if path.exists():
        return path, fmt
    match = _SOURCE_SPLIT.fullmatch(str(value))
    if match is None:
        return path, fmt
    name, split = match.groups()
    if name not in SOURCES:
        raise FetchError(f"{value}: no such file, and {name!r} is not a data source "
                         f"(a '<source>:<split>' value names one of {', '.join(SOURCES)})")
    source = SOURCES[name]
    if fmt != source.format:
        logger.info("%s: read in the source's format %r, not %r", value, source.format, fmt)
    return fetch(source, split, cache_dir=cache_dir, mirror=mirror)[split], source.format
