"""The documentation that is generated from code stays current."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mamori.cli.main import cli

ROOT = Path(__file__).parent.parent


def test_rules_md_is_current() -> None:
    result = CliRunner().invoke(cli, ["rules", "--format", "markdown"])
    assert result.exit_code == 0
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == result.output, (
        "docs/rules.md is stale: run `.venv/bin/mamori rules --format markdown > docs/rules.md`")


def test_readme_quick_start_has_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make demo" in quick and "make test" in quick
