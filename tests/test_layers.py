"""Imports between the bot's packages go one way: Slack layer -> services -> watcher -> clients (store, DIS,
Slack's errors) -> leaf modules. Read from the source (every import, also the lazy and TYPE_CHECKING ones)."""

from __future__ import annotations

import ast
from pathlib import Path

import bot

ROOT = Path(bot.__file__).parent

#: Top to bottom. A module may import its own layer and the layers below it, never one above.
LAYERS: list[tuple[str, set[str]]] = [
    (
        "slack",
        {
            "bot.__main__",
            "bot.cli",
            "bot.demo",
            "bot.server",
            "bot.app",
            "bot.deps",
            "bot.listeners",
            "bot.commands",
            "bot.blocks",
            "bot.ops",
            "bot.socket_mode",
            "bot.devtools",
            "bot.ids",
            "bot.slack_signature",
        },
    ),
    ("services", {"bot.services"}),
    ("watcher", {"bot.watcher"}),
    ("clients", {"bot.store", "bot.dis", "bot.slack_errors"}),
    ("leaf", {"bot", "bot.config", "bot.errors", "bot.logs", "bot.metrics", "bot.message"}),
]

#: Upward imports still there, each a known debt; the list may only shrink (a stale entry fails the test too).
KNOWN_UPWARD: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The bot modules `path` imports (`from bot import metrics` counts as `bot.metrics`)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists() else base)
                if (ROOT.parent / sub.replace(".", "/")).is_dir():
                    found.add(sub)
    return {m for m in found if m == "bot" or m.startswith("bot.")}


def layer_of(module: str) -> int:
    """Index in LAYERS of the longest prefix that names `module` or one of its packages."""
    best: tuple[int, int] | None = None
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            if module == member or module.startswith(member + "."):
                if best is None or len(member) > best[0]:
                    best = (len(member), index)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def upward_imports() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(ROOT.rglob("*.py")):
        importer = module_name(path)
        if importer.startswith("bot.dis.simulator"):
            continue  # a test and demo tool (`dis-bot simulator`); production code never imports it
        for imported in imports(path):
            if layer_of(imported) < layer_of(importer):
                found.add((importer, imported))
    return found


def test_no_package_imports_one_above_it() -> None:
    """No module imports a layer above its own, except the known debts listed in KNOWN_UPWARD."""
    assert upward_imports() - KNOWN_UPWARD == set()


def test_known_upward_imports_are_still_there() -> None:
    """Every debt in KNOWN_UPWARD still exists: a paid one is struck off the list, so the list only shrinks."""
    assert KNOWN_UPWARD - upward_imports() == set()


def test_every_module_has_a_layer() -> None:
    """A new top-level module or package must be placed in a layer (else the rule above says nothing about it)."""
    for path in ROOT.rglob("*.py"):
        layer_of(module_name(path))
