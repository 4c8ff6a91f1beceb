"""docs/architecture.md stays true to the tree: every module under app/ is named, and every
command of `usage-metrics` is in its commands table beside the module that holds it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from app.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
_TABLE_ROW = re.compile(r"^\| (?P<first>[^|]*) \| (?P<rest>.*) \|$", re.MULTILINE)


def modules() -> list[Path]:
    """Every module of the package but `__init__.py` and the migrations, relative to the root."""
    found = (ROOT / "app").rglob("*.py")
    return sorted(
        path.relative_to(ROOT)
        for path in found
        if path.name != "__init__.py" and "migrations" not in path.parts
    )


def package_rows() -> dict[str, str]:
    """The packages table: `app/<package>/` -> its row."""
    return {
        row["first"].strip("`"): row["rest"]
        for row in _TABLE_ROW.finditer(ARCHITECTURE)
        if row["first"].startswith("`app/")
    }


def is_named(module: Path, rows: dict[str, str]) -> bool:
    # By its whole path anywhere, or as `<path inside its package>` in its package's row.
    if f"`{module.as_posix()}`" in ARCHITECTURE:
        return True
    package, inside = Path(*module.parts[:2]), Path(*module.parts[2:])
    return f"`{inside.as_posix()}`" in rows.get(f"{package.as_posix()}/", "")


def test_every_module_under_app_is_named_in_the_architecture_page() -> None:
    rows = package_rows()
    missing = [str(module) for module in modules() if not is_named(module, rows)]
    assert missing == [], f"name these modules in docs/architecture.md: {missing}"


def commands() -> dict[str, str]:
    """Every command line of the parser (`tokens create`, `serve`) -> the module that runs it."""
    found: dict[str, str] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subcommands:
            run = parser.get_default("run")
            found[prefix] = f"{run.__module__.replace('.', '/')}.py"
            return
        for name, sub in subcommands[0].choices.items():
            walk(sub, f"{prefix} {name}".strip())

    walk(build_parser(), "")
    return found


def test_every_command_is_in_the_commands_table_with_its_module() -> None:
    table = {
        command: row["rest"].strip("` ")
        for row in _TABLE_ROW.finditer(ARCHITECTURE)
        for command in re.findall(r"`([a-z][a-z -]*)`", row["first"])
    }
    found = commands()
    assert len(found) >= 15  # the walk found the commands, not an empty parser
    assert {c: table.get(c) for c in found} == found
