"""examples/durable_counter.py runs offline and keeps its count across runtimes."""

from __future__ import annotations

from pathlib import Path

from tests.test_examples import EXAMPLES, run_example


def test_the_durable_counter_example_counts_on_across_restarts(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    assert run_example(EXAMPLES / "durable_counter.py", db).strip() == (
        "after the first run: 3; after the second: 6")
    assert run_example(EXAMPLES / "durable_counter.py", db).strip() == (
        "after the first run: 9; after the second: 12")
