"""deploy/systemd's units pass `systemd-analyze verify`, their command moved to this checkout's
(verify checks that it is executable). Needs Debian's systemd package, which .ci/run installs;
skipped without systemd-analyze, except in CI. Nothing is started: verify only loads the files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
if os.environ.get("CI") == "true":
    assert SYSTEMD_ANALYZE, "CI needs systemd-analyze: .ci/run installs Debian's systemd"
elif SYSTEMD_ANALYZE is None:
    pytest.skip("systemd-analyze is not installed", allow_module_level=True)

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SHIPPED_COMMAND = "/opt/usage-metrics/.venv/bin/usage-metrics"
# The venv's script beside this interpreter (not resolved: a venv's python is a symlink).
COMMAND = Path(sys.executable).parent / "usage-metrics"


def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    units = sorted(UNITS.glob("usage-metrics*"))
    assert [unit.name for unit in units] == [
        "usage-metrics-ship.service",
        "usage-metrics-syslog.service",
        "usage-metrics-syslog.socket",
        "usage-metrics.service",
    ]
    for unit in units:
        text = unit.read_text()
        assert (SHIPPED_COMMAND in text) == (unit.suffix == ".service"), unit.name
        (tmp_path / unit.name).write_text(text.replace(SHIPPED_COMMAND, str(COMMAND)))
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", *(str(tmp_path / unit.name) for unit in units)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Unknown keys and bad values are warnings only (exit 0): any output is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
