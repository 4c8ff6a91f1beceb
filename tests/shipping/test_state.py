"""The state file: atomic replacement, a clear error when it is not ours, a default per log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.shipping.state import (
    ShipState,
    StateFileError,
    default_state_path,
    load_state,
    save_state,
)

STATE = ShipState(device=65024, inode=42, fingerprint="ab" * 32, generation=1, offset=1234)


def test_saves_and_loads_a_state(tmp_path: Path) -> None:
    path = tmp_path / "state" / "access.json"
    assert load_state(path) is None
    save_state(path, STATE, tmp_path / "access.log")
    assert load_state(path) == STATE
    pending = ShipState(65024, 42, "ab" * 32, 1, 1234, pending_end=5678)
    save_state(path, pending, tmp_path / "access.log")
    assert load_state(path) == pending
    assert [p.name for p in path.parent.iterdir()] == ["access.json"]  # no temporary file left
    assert json.loads(path.read_text())["log"] == str(tmp_path / "access.log")


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b'{"version": 1}', b'{"version": 2, "offset": 1}', b'{"version": 3}'],
)
def test_refuses_a_file_that_is_not_a_state_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match=str(path)):
        load_state(path)


def test_the_default_state_file_is_per_log_under_xdg_state_home(tmp_path: Path) -> None:
    environ = {"XDG_STATE_HOME": str(tmp_path / "state"), "HOME": "/home/nobody"}
    first = default_state_path(Path("/var/log/nginx/access.log"), environ)
    other = default_state_path(Path("/srv/portal/logs/access.log"), environ)
    assert first.parent == tmp_path / "state" / "usage-metrics" / "ship"
    assert first.name.startswith("access.log-") and first.suffix == ".json"
    assert first != other
    home = default_state_path(Path("/var/log/nginx/access.log"), {"HOME": "/home/nobody"})
    assert home.parent == Path("/home/nobody/.local/state/usage-metrics/ship")
