"""What a Procfile platform needs to build and start the bot is in the repository."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_requirements_txt_installs_the_project_and_its_command() -> None:
    """Heroku's Python build needs requirements.txt: it installs this project, whose script is what Procfile runs."""
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == ["."]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["dis-bot"] == "bot.cli:main"
    [web] = (ROOT / "Procfile").read_text().split("\n", 1)[:1]
    assert web.split(": ", 1)[1].split()[0] == "dis-bot"
