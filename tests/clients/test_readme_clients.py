"""The README's "Clients in other languages": its code lines are the examples' own lines."""

from __future__ import annotations

import re

from tests.clients.conftest import ROOT

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
