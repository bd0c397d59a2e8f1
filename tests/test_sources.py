"""Named data sources fetched once, checked by sha256, cached (kpod_lite.data.sources; §4.1, Table 4).

No internet here, so every download goes through the real code path (urllib) to a loopback
`http.server` serving small files this test writes, by the mirror setting the module offers
for exactly that; the files are invented problems in each format, not dataset records.
"""

import hashlib
import json
import logging
import socket
import threading
import time
from functools import partial
from pathlib import Path
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kpod_lite import cli, data, pipeline
from kpod_lite.config import ConfigError, preset
from kpod_lite.data import sources
from kpod_lite.data.sources import CHECKSUMS_FILE, DataSource, FetchError, SourceFile

SVAMP_FILE = [  # two invented problems in SVAMP's format
    {"ID": "t-1", "Body": "Ana has 3 red pens and 4 blue pens.", "Question": "How many pens does she have?",
     "Equation": "( 3.0 + 4.0 )", "Answer": 7.0, "Type": "Addition"},
    {"ID": "t-2", "Body": "A box holds 12 eggs and 5 break.", "Question": "How many are whole?",
     "Equation": "( 12.0 - 5.0 )", "Answer": 7.0, "Type": "Subtraction"},
]


def _instruction_split(n, *, rationales):  # MCC-KD's layout: "output" is a list of rationales in train
    records = []
    for k in range(n):
        output = [f"{k} plus 2 is {k + 2}. Therefore, the answer is {k + 2}."] if rationales else ""
        records.append({"instruction": f"Tom has {k} apples and buys 2. How many now?", "output": output,
                        "label": str(k + 2)})
    return json.dumps(records).encode()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class _CutShort(BaseHTTPRequestHandler):
    """Promises 1000 bytes, sends 10, hangs up: a download killed in the middle."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"[{\"ID\": 1,")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


class _Silent(BaseHTTPRequestHandler):
    """Accepts the connection and says nothing for a while: a server that hangs."""

    def do_GET(self):
        time.sleep(1.0)

    def log_message(self, *args):
        pass


def _serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _stop(server):
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.CACHE_ENV, str(tmp_path / "default-cache"))
    monkeypatch.delenv(sources.MIRROR_ENV, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")  # loopback never goes through a proxy


@pytest.fixture
def mirror(tmp_path):
    """A loopback mirror laid out as <mirror>/<name>/<file>, serving project-written files."""
    root = tmp_path / "mirror"
    (root / "svamp").mkdir(parents=True)
    (root / "svamp" / "SVAMP.json").write_bytes(json.dumps(SVAMP_FILE).encode())
    (root / "mcckd-svamp").mkdir()
    (root / "mcckd-svamp" / "train.json").write_bytes(_instruction_split(3, rationales=True))
    (root / "mcckd-svamp" / "test.json").write_bytes(_instruction_split(2, rationales=False))
    server, url = _serve(partial(_Quiet, directory=str(root)))
    yield root, url, server
    _stop(server)


def _closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def _leftovers(folder):
    return sorted(p.name for p in folder.glob(".*.part"))


def test_first_fetch_downloads_records_the_digest_and_warns(tmp_path, mirror, caplog):
    root, url, _ = mirror
    with caplog.at_level(logging.WARNING, logger="kpod_lite.data"):
        paths = sources.fetch("svamp", cache_dir=tmp_path / "cache", mirror=url)
    path = paths["all"]
    assert path == tmp_path / "cache" / "svamp" / "SVAMP.json"
    served = (root / "svamp" / "SVAMP.json").read_bytes()
    assert path.read_bytes() == served
    digest = hashlib.sha256(served).hexdigest()
    assert sources.read_checksums(path.parent) == {"SVAMP.json": digest}
    assert (path.parent / CHECKSUMS_FILE).read_text() == f"{digest}  SVAMP.json\n"  # `sha256sum -c` reads it
    assert "no recorded checksum" in caplog.text and digest in caplog.text
    assert [e.answer for e in data.load_examples(path, sources.SOURCES["svamp"].format)] == ["7", "7"]


def test_second_fetch_uses_the_cache_without_the_network(tmp_path, mirror, caplog):
    _, url, server = mirror
    first = sources.fetch("svamp", cache_dir=tmp_path / "cache", mirror=url)
    _stop(server)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kpod_lite.data"):
        again = sources.fetch("svamp", cache_dir=tmp_path / "cache", mirror=_closed_port_url())
    assert again == first
    assert "no recorded checksum" not in caplog.text  # the digest recorded the first time is used


def test_recorded_digest_refuses_a_changed_file_and_keeps_nothing(tmp_path, mirror):
    root, url, _ = mirror
    cache = tmp_path / "cache"
    path = sources.fetch("svamp", cache_dir=cache, mirror=url)["all"]
    recorded = sources.read_checksums(path.parent)["SVAMP.json"]
    # The source changes upstream; the user deletes the cached copy to get it again.
    (root / "svamp" / "SVAMP.json").write_bytes(json.dumps(SVAMP_FILE[:1]).encode())
    path.unlink()
    with pytest.raises(FetchError, match="sha256 mismatch") as caught:
        sources.fetch("svamp", cache_dir=cache, mirror=url)
    assert recorded in str(caught.value) and CHECKSUMS_FILE in str(caught.value)
    assert not path.exists() and _leftovers(path.parent) == []
    assert sources.read_checksums(path.parent) == {"SVAMP.json": recorded}


def test_a_cached_file_edited_later_is_refused_naming_what_to_do(tmp_path, mirror):
    _, url, _ = mirror
    path = sources.fetch("svamp", cache_dir=tmp_path / "cache", mirror=url)["all"]
    path.write_bytes(b"[]")
    with pytest.raises(FetchError) as caught:
        sources.fetch("svamp", cache_dir=tmp_path / "cache", mirror=url)
    message = str(caught.value)
    assert str(path) in message and "expected" in message and hashlib.sha256(b"[]").hexdigest() in message
    assert "delete the cached file" in message


def test_a_pinned_digest_is_checked_before_the_file_is_kept(tmp_path, mirror, caplog):
    root, url, _ = mirror
    good = hashlib.sha256((root / "svamp" / "SVAMP.json").read_bytes()).hexdigest()
    pinned = DataSource("svamp", "svamp", "MIT", "-", {"all": SourceFile(f"{url}/svamp/SVAMP.json", good)})
    with caplog.at_level(logging.WARNING, logger="kpod_lite.data"):
        assert sources.fetch(pinned, cache_dir=tmp_path / "a")["all"].exists()
    assert "no recorded checksum" not in caplog.text
    wrong = "0" * 64
    with pytest.raises(FetchError, match=f"expected {wrong}, got {good}"):
        sources.fetch("svamp", cache_dir=tmp_path / "b", mirror=url, sha256={"all": wrong})
    folder = tmp_path / "b" / "svamp"
    assert not (folder / "SVAMP.json").exists() and _leftovers(folder) == []
    assert sources.read_checksums(folder) == {}
    with pytest.raises(ConfigError, match="64 lower-case hex"):
        sources.fetch("svamp", cache_dir=tmp_path / "b", mirror=url, sha256={"all": "abc"})


def test_offline_error_names_the_url_and_what_to_do(tmp_path):
    url = _closed_port_url()
    with pytest.raises(FetchError) as caught:
        sources.fetch("gsm8k", "test", cache_dir=tmp_path / "cache", mirror=url)
    message = str(caught.value)
    target = tmp_path / "cache" / "gsm8k" / "test.jsonl"
    assert f"could not reach {url}/gsm8k/test.jsonl" in message
    assert "you seem to be offline" in message and str(target) in message and "train_file" in message
    assert not target.exists()


def test_a_server_that_does_not_answer_times_out(tmp_path):
    server, url = _serve(_Silent)
    try:
        with pytest.raises(FetchError, match=r"no answer within 0.2 s; .* download it by hand to "):
            sources.fetch("svamp", cache_dir=tmp_path / "cache", mirror=url, timeout=0.2)
    finally:
        _stop(server)
    assert not (tmp_path / "cache" / "svamp" / "SVAMP.json").exists()


def test_http_error_names_the_status_and_the_source_note(tmp_path, mirror):
    _, url, _ = mirror
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        sources.fetch("mcckd-gsm8k", "train", cache_dir=tmp_path / "cache", mirror=url)
    assert "expected at the same path" in str(caught.value)


def test_a_download_cut_short_leaves_no_finished_looking_file(tmp_path):
    server, url = _serve(_CutShort)
    try:
        with pytest.raises(FetchError, match="got 10 of the 1000 bytes|stopped after 10 bytes"):
            sources.fetch("svamp", cache_dir=tmp_path / "cache", mirror=url)
    finally:
        _stop(server)
    folder = tmp_path / "cache" / "svamp"
    assert not (folder / "SVAMP.json").exists() and _leftovers(folder) == []
    assert sources.read_checksums(folder) == {}


def test_a_part_file_left_by_a_killed_run_is_not_taken_for_the_file(tmp_path, mirror):
    _, url, _ = mirror
    folder = tmp_path / "cache" / "svamp"
    folder.mkdir(parents=True)
    (folder / ".SVAMP.json.x1y2.part").write_bytes(b"[{\"ID\":")  # what a SIGKILL mid-download leaves
    path = sources.fetch("svamp", cache_dir=tmp_path / "cache", mirror=url)["all"]
    assert len(data.load_examples(path, "svamp")) == 2
    assert _leftovers(folder) == []


def test_a_local_folder_serves_as_a_mirror(tmp_path, mirror):
    root, _, _ = mirror
    path = sources.fetch("svamp", cache_dir=tmp_path / "cache", mirror=str(root))["all"]  # via file://
    assert path.read_bytes() == (root / "svamp" / "SVAMP.json").read_bytes()


def test_unknown_names_splits_and_bad_checksum_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown data source 'gsm9k'; choose one of gsm8k"):
        sources.fetch("gsm9k")
    with pytest.raises(ConfigError, match="'svamp' has no split 'train'; it has all"):
        sources.fetch("svamp", "train")
    folder = tmp_path / "cache" / "svamp"
    folder.mkdir(parents=True)
    (folder / CHECKSUMS_FILE).write_text(f"{'a' * 64}  SVAMP.json\nnot a digest\n")
    with pytest.raises(data.DataFormatError, match=rf"{CHECKSUMS_FILE}:2: expected '<64 hex digits>  <file name>'"):
        sources.fetch("svamp", cache_dir=tmp_path / "cache")


def test_every_registered_source_is_loadable_and_unpinned_digests_are_none():
    for source in sources.SOURCES.values():
        assert source.format in data.FORMATS and source.files and source.licence
        for file in source.files.values():
            assert file.url.startswith("https://") and file.filename
            assert file.sha256 is None  # not recorded yet (no internet where this was written); never invented
    assert set(sources.SOURCES["mcckd-gsm8k"].files) == {"train", "dev", "test"}


def test_resolve_data_file_fetches_a_source_split_and_lets_paths_pass(tmp_path, mirror, monkeypatch):
    _, url, _ = mirror
    monkeypatch.setenv(sources.MIRROR_ENV, url)
    path, fmt = data.resolve_data_file("svamp:all", "kpod")
    assert fmt == "svamp" and path.parent == tmp_path / "default-cache" / "svamp"
    local = tmp_path / "svamp:all"  # an existing path always wins, even one that looks like a source
    local.write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    assert data.resolve_data_file("svamp:all", "kpod") == (Path("svamp:all"), "kpod")
    # Neither a file nor "<source>:<split>": handed on, so the loader names the missing file.
    assert data.resolve_data_file("missing/train.jsonl", "gsm8k") == (Path("missing/train.jsonl"), "gsm8k")
    with pytest.raises(FetchError, match="no such file, and 'gsm9k' is not a data source"):
        data.resolve_data_file("gsm9k:train", "gsm8k")


def test_stage_questions_reads_table_4_splits_named_by_source(tmp_path, mirror, monkeypatch):
    _, url, _ = mirror
    monkeypatch.setenv(sources.MIRROR_ENV, url)
    cfg = preset("tiny", train_file="mcckd-svamp:train", test_file="mcckd-svamp:test", ood=())
    paths = pipeline.stage_questions(cfg, tmp_path / "run")
    train = data.load_examples(paths["train"], "kpod")
    assert [e.answer for e in train] == ["2", "3", "4"]
    assert train[0].meta["output"] == ["0 plus 2 is 2. Therefore, the answer is 2."]
    assert len(data.load_examples(paths["test"], "kpod")) == 2


def test_cli_fetch_prints_the_cached_paths_and_the_format(tmp_path, mirror, monkeypatch, capsys):
    _, url, server = mirror
    monkeypatch.setenv(sources.MIRROR_ENV, url)
    assert cli.main(["fetch", "svamp"]) == 0
    out = capsys.readouterr().out
    assert f"all: {tmp_path / 'default-cache' / 'svamp' / 'SVAMP.json'}" in out and "format: svamp" in out
    assert cli.main(["fetch"]) == 0
    assert "mcckd-gsm8k: format instruction, splits train, dev, test" in capsys.readouterr().out
    _stop(server)
    monkeypatch.setenv(sources.MIRROR_ENV, _closed_port_url())
    assert cli.main(["fetch", "svamp"]) == 0  # cached: no network needed
    assert cli.main(["fetch", "gsm8k", "--split", "test"]) == 2  # offline: one clear line, no traceback
    assert "you seem to be offline" in capsys.readouterr().err


def test_source_settings_name_the_train_and_test_splits_and_the_format():
    from kpod_lite.config import preset
    from kpod_lite.data import source_settings

    settings = source_settings("mcckd-gsm8k")
    assert settings == {"train_file": "mcckd-gsm8k:train", "test_file": "mcckd-gsm8k:test",
                        "data_format": "instruction", "dataset": "gsm8k"}
    assert source_settings("csqa")["test_file"] == "csqa:dev", "CommonsenseQA's labelled test set is its dev set"
    preset("flan-t5-large", **settings)  # valid settings for a preset
    with pytest.raises(ConfigError, match="'svamp' has no train split.*mcckd-svamp"):
        source_settings("svamp")
