"""The README's "Clients in other languages" (its code lines are the examples' own), and the
clients' code hygiene: gofmt and go vet for Go, a parse check for every Node.js module."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.clients.conftest import ROOT, go_env

README = (ROOT / "README.md").read_text()
SECTION = README.split("## Clients in other languages", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```(js|go|sh)\n(.*?)```", SECTION, re.S)
EXAMPLES = {
    "js": "".join(p.read_text() for p in (ROOT / "examples" / "cos" / "node").glob("*.mjs")),
    "go": "".join(p.read_text() for p in (ROOT / "examples" / "cos" / "go").rglob("*.go")),
}


def test_the_section_shows_node_go_and_the_command_lines() -> None:
    assert [lang for lang, _ in BLOCKS] == ["js", "go", "sh"]


def test_every_code_line_of_the_section_appears_in_an_example() -> None:
    for lang, block in BLOCKS:
        if lang == "sh":
            continue
        lines = [line.strip() for line in block.splitlines()[1:] if line.strip()]  # after the "// from" line
        missing = [line for line in lines if line not in EXAMPLES[lang]]
        assert not missing, f"{lang} lines not in examples/cos: {missing}"


def test_the_command_lines_name_the_examples_that_the_tests_run() -> None:
    sh = dict(BLOCKS)["sh"]
    for path in re.findall(r"examples/cos/\S+", sh):
        assert (ROOT / path.rstrip(")")).exists(), path
    assert "go run ./server" in sh and "go run ./caller" in sh
    assert (ROOT / "examples" / "cos" / "go" / "server" / "main.go").exists()


def test_the_go_code_is_gofmt_clean_and_passes_go_vet(go_bins: dict[str, str], tmp_path: Path) -> None:
    go = shutil.which("go")
    assert go
    dirs = [ROOT / "clients" / "go", ROOT / "examples" / "cos" / "go"]
    unformatted = subprocess.run([str(Path(go).parent / "gofmt"), "-l", *map(str, dirs)], capture_output=True,
                                 text=True, timeout=120)
    assert unformatted.returncode == 0 and unformatted.stdout == "", unformatted.stdout + unformatted.stderr
    for d, tags in ((dirs[0], ["-tags", "gateway"]), (dirs[1], [])):
        vet = subprocess.run([go, "vet", *tags, "./..."], cwd=d, env=go_env(tmp_path), capture_output=True, text=True,
                             timeout=600)
        assert vet.returncode == 0, vet.stdout + vet.stderr


def test_the_node_code_parses_as_es_modules(node: str) -> None:
    files = [*(ROOT / "clients" / "node").glob("*.js"), *(ROOT / "examples" / "cos" / "node").glob("*.mjs"),
             *(ROOT / "tests" / "clients" / "node").glob("*.mjs")]
    assert len(files) >= 8
    for f in files:
        out = subprocess.run([node, "--check", str(f)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"{f}: {out.stderr}"
