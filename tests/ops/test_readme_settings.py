"""The README's settings table stays true: every variable `Settings` reads is documented there, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from bot.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def setting_names() -> set[str]:
    """Every environment variable name `Settings` reads (the validation aliases of its fields)."""
    names: set[str] = set()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {c for c in alias.choices if isinstance(c, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(name.upper())
    return names


def table_names(text: str) -> set[str]:
    """Variable names (written as `NAME`) in the first column of the settings tables.

    A settings table is a Markdown table whose header's first cell says "Variable" or "Setting"; other tables
    (metrics, commands) are ignored.
    """
    names: set[str] = set()
    in_settings = False
    previous_was_row = False
    for line in text.splitlines():
        is_row = line.lstrip().startswith("|")
        if not is_row:
            in_settings = previous_was_row = False
            continue
        first = line.strip().strip("|").split("|")[0]
        if not previous_was_row:  # a header row starts a table
            in_settings = bool(re.search(r"variable|setting", first, re.IGNORECASE))
        elif in_settings:
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))
        previous_was_row = True
    return names


def test_every_setting_is_in_the_readme_table() -> None:
    """Each variable the code reads has a row in README.md's settings table."""
    assert README.exists(), "README.md is missing"
    documented = table_names(README.read_text(encoding="utf-8"))
    missing = sorted(setting_names() - documented)
    assert not missing, f"settings read by bot/config.py but not in README.md's table: {missing}"


def test_the_readme_table_names_no_setting_the_code_does_not_read() -> None:
    """No row documents a variable that bot/config.py does not read (a renamed or removed setting)."""
    assert README.exists(), "README.md is missing"
    documented = table_names(README.read_text(encoding="utf-8"))
    extra = sorted(documented - setting_names())
    assert not extra, f"README.md's table documents variables bot/config.py does not read: {extra}"


def test_table_parser_reads_first_column_only() -> None:
    """Names come from the first cell of settings tables only, not from prose, other cells or other tables."""
    text = (
        "`NOT_A_ROW` in prose\n"
        "| Variable | Default |\n|---|---|\n| `DIS_REGION` | see `OTHER_NAME` |\n| `PORT` | 3000 |\n"
        "\n| Metric | Meaning |\n|---|---|\n| `METRIC_LIKE_NAME` | x |\n"
    )
    assert table_names(text) == {"DIS_REGION", "PORT"}
