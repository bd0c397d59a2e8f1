"""Where every command writes: output paths checked before work, one writer, files the umask allows."""

import os
import stat
from pathlib import Path

import pytest
from filelock import FileLock

from kpod_lite import cli, data, errors, outputs

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
TRAIN = str(SAMPLES / "synthetic" / "train.jsonl")


def refused(argv, capsys) -> str:
    """stderr of a command line that argparse or the command refuses with exit code 2, no traceback."""
    try:
        code = cli.main(argv)
    except SystemExit as exited:  # argparse: the usage line, then the message
        code = exited.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err


# Each sub-command that writes, with the arguments it needs besides its output.
FILE_OUTPUTS = {
    "teach": ["teach", "--data", TRAIN, "--no-progress", "--out"],
    "weigh": ["weigh", "--rationales", TRAIN, "--out"],
    "difficulty": ["difficulty", "--rationales", TRAIN, "--weights", TRAIN, "--out"],
    "schedule": ["schedule", "--difficulty", TRAIN, "--questions", TRAIN, "--epochs", "2", "--out"],
    "evaluate": ["evaluate", "--model", "nope", "--data", TRAIN, "--out"],
}
FOLDER_OUTPUTS = {
    "synth": ["synth", "--out"],
    "distill": ["distill", "--rationales", TRAIN, "--out"],
    "run": ["run", "--out"],
    "fetch": ["fetch", "gsm8k", "--cache-dir"],
}


@pytest.mark.parametrize("command", sorted(FILE_OUTPUTS))
def test_a_folder_given_as_an_output_file_is_refused_before_any_work(command, tmp_path, capsys):
    err = refused([*FILE_OUTPUTS[command], str(tmp_path)], capsys)
    assert f"argument --out: {tmp_path} is a folder, where a file is expected: name the file itself" in err


@pytest.mark.parametrize("command", sorted(FILE_OUTPUTS))
def test_an_output_under_a_file_is_refused(command, tmp_path, capsys):
    (tmp_path / "plain").write_text("x")
    err = refused([*FILE_OUTPUTS[command], str(tmp_path / "plain" / "out.jsonl")], capsys)
    assert f"{tmp_path / 'plain'} is a file, not a folder" in err


@pytest.mark.parametrize("command", sorted(FOLDER_OUTPUTS))
def test_a_file_given_as_an_output_folder_is_refused(command, tmp_path, capsys):
    (tmp_path / "plain").write_text("x")
    err = refused([*FOLDER_OUTPUTS[command], str(tmp_path / "plain")], capsys)
    assert f"{tmp_path / 'plain'} is a file, where a folder is expected" in err and "move the file away" in err


def test_a_folder_this_user_cannot_write_is_refused(tmp_path, capsys, monkeypatch):
    # Tests may run as root, whom permissions do not stop: the check asks os.access, so ask it here.
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: Path(path) != locked and real(path, mode))
    err = refused(["weigh", "--rationales", TRAIN, "--out", str(locked / "w.jsonl")], capsys)
    assert f"this user cannot write in {locked}" in err and "ask its owner for write permission" in err
    err = refused(["synth", "--out", str(locked / "splits")], capsys)
    assert f"cannot write in {locked}" in err


def test_an_os_error_during_the_work_is_one_paragraph_naming_the_path(capsys):
    def work():
        raise PermissionError(13, "Permission denied", "/srv/course/weights.jsonl")

    assert errors.report_errors("kpod-lite weigh", work) == 2
    err = capsys.readouterr().err
    assert err.startswith("kpod-lite weigh: error: /srv/course/weights.jsonl: Permission denied; choose a path")

    def full():
        raise OSError(28, "No space left on device", "/srv/course/model.safetensors")

    assert errors.report_errors("kpod-lite distill", full) == 1  # the system failed, not the input
    assert "free some space, then run the same command again" in capsys.readouterr().err


@pytest.mark.parametrize("argv, held", [
    (["distill", "--rationales", TRAIN, "--out", "{out}"], ("--out", "{out}", "output folder")),
    (["weigh", "--rationales", TRAIN, "--out", "{out}/w.jsonl"], ("--out", "{out}/w.jsonl", "output file")),
    (["evaluate", "--model", "m", "--data", TRAIN, "--out", "{out}/p.jsonl"], ("--out", "{out}/p.jsonl", "output file")),
])
def test_two_commands_never_write_one_output(argv, held, tmp_path, capsys):
    out = tmp_path / "out"
    fill = lambda text: text.replace("{out}", str(out))  # noqa: E731
    option, path, kind = (fill(x) for x in held)
    with outputs.claim([(option, Path(path), kind)]):  # another process holds the output
        err = refused([fill(a) for a in argv], capsys)
    assert f"another kpod-lite run is using {path}; wait for it, or choose another --out" in err
    assert not (out / "model").exists() and not Path(path + ".tmp").exists()


def test_the_processes_of_one_distributed_launch_share_one_hold(tmp_path, monkeypatch):
    # accelerate launch --num_processes 2 ... distill: rank 0 holds --out for both (notebook 06).
    out = [("--out", tmp_path / "student", "output folder")]
    with outputs.claim(out):
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", "1")
        with outputs.claim(out):
            pass
        monkeypatch.setenv("RANK", "0")  # a second launch's first process is refused as usual
        with pytest.raises(errors.OutputError, match="another kpod-lite run is using"):
            with outputs.claim(out):
                pass


def test_a_sub_command_never_writes_into_a_folder_a_run_is_using(tmp_path, capsys):
    run_dir = tmp_path / "runs" / "tiny"
    run_dir.mkdir(parents=True)
    with FileLock(str(run_dir / outputs.RUN_LOCK)):  # `kpod-lite run` holds its folder
        err = refused(["weigh", "--rationales", TRAIN, "--out", str(run_dir / "weights.jsonl")], capsys)
        assert f"another kpod-lite run is using {run_dir}; wait for it, or choose another --out" in err
        err = refused(["distill", "--rationales", TRAIN, "--out", str(run_dir / "students" / "kpod" / "seed-0")],
                      capsys)
        assert f"another kpod-lite run is using {run_dir};" in err
    # The lock is the one `run` itself takes and refuses with.
    with FileLock(str(run_dir / outputs.RUN_LOCK)):
        err = refused(["run", "--out", str(run_dir), "--until", "questions"], capsys)
        assert f"another kpod-lite run is using {run_dir}; wait for it, or choose another --out" in err


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_give_the_mode_the_umask_allows(umask, mode, tmp_path):
    before = os.umask(umask)
    try:
        data.write_atomically(tmp_path / "f.json", "{}\n")
        data.write_jsonl(tmp_path / "r.jsonl", [{"id": 1}])
        assert outputs.readable_mode() == mode
    finally:
        os.umask(before)
    for name in ("f.json", "r.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_synth_writes_group_readable_splits_and_refuses_a_negative_size(tmp_path, capsys):
    before = os.umask(0o002)
    try:
        assert cli.main(["synth", "--out", str(tmp_path), "--train", "3", "--validation", "0", "--test", "2"]) == 0
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "train.jsonl").stat().st_mode) == 0o664
    assert (tmp_path / "validation.jsonl").read_text() == ""  # asked for 0, given 0
    capsys.readouterr()
    err = refused(["synth", "--out", str(tmp_path / "other"), "--test", "-5"], capsys)
    assert "argument --test: must be >= 0, got -5" in err and not (tmp_path / "other").exists()


def test_a_reader_that_closes_the_pipe_is_not_reported_as_a_bad_path():
    import subprocess
    import sys

    # `python -m kpod_lite.ledger ... | head -1`: the reader stops after one line.
    script = ("import sys\nfrom kpod_lite import errors\n"
              "def work():\n    raise BrokenPipeError(32, 'Broken pipe')\n"
              "sys.exit(errors.report_errors('kpod-lite x', work))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 141 and "check the path" not in result.stderr
