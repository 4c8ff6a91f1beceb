"""The settings file of `--env-file` / USAGE_METRICS_ENV_FILE, read as systemd's
EnvironmentFile= reads it, and how it completes the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import read_env_file, with_env_file
from app.errors import ConfigError

NOT_ONE_LINE = (
    "the value of A does not end on its line, or has text after its closing quote: quote the "
    "whole value, on one line"
)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("A=1\n", {"A": "1"}),
        ("# comment\n; comment\n\n   \nA=1", {"A": "1"}),
        ("  A =  two words  \n", {"A": "two words"}),
        # systemd keeps a `#` after the value as part of it: so do we, and the settings say so.
        ("TZ=Europe/Paris   # nginx's zone\n", {"TZ": "Europe/Paris   # nginx's zone"}),
        ('A=it\'s "plain"\n', {"A": 'it\'s "plain"'}),
        ("A=back\\slash\\\\es\n", {"A": "backslash\\es"}),
        ("A='single \"quoted\" # \\ kept'\n", {"A": 'single "quoted" # \\ kept'}),
        ('A="double \\" \\\\ \\$ \\` \\n"\n', {"A": 'double " \\ $ ` \\n'}),
        ("A=\nB=''\n", {"A": "", "B": ""}),
        ("A=1\nA=2\n", {"A": "2"}),
        (
            "URL=postgres://u:p%40ss@db:5432/usage?ssl=true\n",
            {"URL": "postgres://u:p%40ss@db:5432/usage?ssl=true"},
        ),
    ],
)
def test_reads_what_systemd_reads(tmp_path: Path, text: str, values: dict[str, str]) -> None:
    path = tmp_path / "env"
    path.write_text(text)
    assert read_env_file(path) == values


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("A=1\nexport B=secret\n", "line 2: not NAME=VALUE (systemd would ignore it)"),
        ("A=1\n1A=secret\n", "line 2: not NAME=VALUE (systemd would ignore it)"),
        ("secret\n", "line 1: not NAME=VALUE (systemd would ignore it)"),
        ('A="secret\nmore"\n', f"line 1: {NOT_ONE_LINE}"),
        ("A=secret\\\nmore\n", f"line 1: {NOT_ONE_LINE}"),
        ("A='sec'ret\n", f"line 1: {NOT_ONE_LINE}"),
    ],
)
def test_refuses_a_line_systemd_would_read_otherwise_without_showing_it(
    tmp_path: Path, text: str, error: str
) -> None:
    path = tmp_path / "env"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        read_env_file(path)
    assert raised.value.message == f"{path}, {error}"
    assert "secret" not in raised.value.message


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "latin1").write_bytes(b"A=caf\xe9\n")
    with pytest.raises(ConfigError) as raised:
        read_env_file(tmp_path / "latin1")
    assert raised.value.message == (
        f"cannot read the settings file {tmp_path / 'latin1'}: it is not UTF-8 text"
    )


def test_the_environment_wins_where_it_sets_a_value() -> None:
    environ = {"A": "from-env", "B": "", "D": "kept"}
    values = {"A": "from-file", "B": "from-file", "C": "from-file"}
    assert with_env_file(environ, values) == {
        "A": "from-env",
        "B": "from-file",  # empty counts as unset, as for the settings themselves
        "C": "from-file",
        "D": "kept",
    }
