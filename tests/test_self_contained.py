"""The repository explains itself: no file points a reader at something they cannot open, a
design note kept outside the repository, a folder beside it, or an issue tracker's number."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".git", ".venv", "runs", "build", "__pycache__", ".hypothesis", ".ipynb_checkpoints"}
SUFFIXES = {".py", ".md", ".ipynb", ".toml", ".yml", ".yaml", ".txt", ".cfg", ".sh"}
OUTSIDE = re.compile(r"DESIGN\.md|\.\./shared\b|\bissue\s+#?\d+\b|\bissues?/\d+\b", re.IGNORECASE)


def repository_files():
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if path.is_file() and path.suffix in SUFFIXES and not parts & SKIP and not any(
                p.startswith(".venv") for p in parts) and path != Path(__file__).resolve():
            yield path


def test_no_file_cites_what_a_reader_cannot_open():
    found = []
    for path in repository_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not found, "cite the repository's own files or the paper instead:\n" + "\n".join(found)


def test_the_check_reads_the_repository_and_knows_what_to_look_for():
    assert ROOT / "README.md" in set(repository_files())
    assert all(OUTSIDE.search(s) for s in ("see issue 13", "DESIGN.md, section 2", "../shared/paper", "issues/24"))
    assert not OUTSIDE.search("an issue numbered by the paper's Table 2")
