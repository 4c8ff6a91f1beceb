"""The shipper's state file: which file it reads and up to which byte the server has the lines."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.errors import UsageMetricsError

STATE_VERSION = 2
READ_VERSIONS = frozenset({1, STATE_VERSION})  # 1: before the sent ranges were kept
RANGES_DIR = "ranges"  # beside the state file


class StateFileError(UsageMetricsError):
    """The state file cannot be read or written; the message names it."""


@dataclass(frozen=True)
class ShipState:
    """Everything a restarted shipper needs to neither lose nor repeat a line."""

    device: int
    inode: int
    fingerprint: str | None  # None until the file has a first line
    generation: int
    offset: int  # the server has every line before this byte
    # A batch [offset, pending_end) was posted and not yet acknowledged: a restart re-sends
    # exactly those bytes under the same key, so the server counts them once whatever happened.
    pending_end: int | None = None
    ranges: str | None = None  # the file's ranges file, in the ranges folder (docs/deploy.md)


def default_state_path(log_path: Path, environ: Mapping[str, str]) -> Path:
    """$XDG_STATE_HOME/usage-metrics/ship/<name>-<hash of the absolute path>.json.

    Not beside the log: /var/log/nginx is seldom writable by the shipper's user, and a
    logrotate glob such as /var/log/nginx/* would rotate the state file too.
    """
    absolute = os.path.abspath(log_path)  # not resolve(): a symlink names the log to follow
    digest = hashlib.sha256(absolute.encode()).hexdigest()[:12]
    return _state_dir(environ) / f"{log_path.name}-{digest}.json"


def default_ranges_dir(environ: Mapping[str, str]) -> Path:
    """Where ship keeps the ranges its batches were cut at when its state file is the default
    one (import reads them there): $XDG_STATE_HOME/usage-metrics/ship/ranges."""
    return _state_dir(environ) / RANGES_DIR


def _state_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME", ".")) / ".local/state")
    return Path(base) / "usage-metrics" / "ship"


def load_state(path: Path) -> ShipState | None:
    """The saved state, or None when there is no state file yet."""
    try:
        data: Any = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateFileError(f"cannot read the state file {path}: {exc}") from exc
    try:
        if data.pop("version") not in READ_VERSIONS:
            raise ValueError("unknown version")
        data.pop("log", None)
        return ShipState(**data)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise StateFileError(
            f"{path} is not a usage-metrics ship state file: give another --state, or remove it "
            "to send the log from its first line"
        ) from exc


def save_state(path: Path, state: ShipState, log_path: Path) -> None:
    """Replace the state file atomically: after a crash it holds the old state or the new one."""
    data = {"version": STATE_VERSION, "log": os.path.abspath(log_path), **asdict(state)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(data, indent=1).encode())
    except OSError as exc:
        raise StateFileError(f"cannot write the state file {path}: {exc}") from exc


def write_atomically(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Replace `path` with `data` (temporary file, fsync, rename): after a crash it holds the old
    content or the new one, whole. `mode` is masked by the umask, as open() does. Raises OSError."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with open(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _sync_directory(path.parent)  # makes the rename itself durable


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
