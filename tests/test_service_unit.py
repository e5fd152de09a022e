"""contrib/monotreme.service, checked by systemd itself: the unit README's
"Running as a service" installs, with ExecStart pointing at this install."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import require

UNIT = Path(__file__).resolve().parent.parent / "contrib" / "monotreme.service"


def test_the_service_unit_verifies(tmp_path: Path) -> None:
    analyze = require("systemd-analyze")
    monotreme = shutil.which("monotreme", path=str(Path(sys.executable).parent))
    assert monotreme is not None, "monotreme is not installed beside this python"
    text = UNIT.read_text()
    assert "ExecStart=/opt/monotreme/bin/monotreme serve" in text
    unit = tmp_path / "monotreme.service"
    unit.write_text(text.replace("/opt/monotreme/bin/monotreme", monotreme))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )
    assert (settings["Restart"], settings["NoNewPrivileges"], settings["ProtectSystem"]) == (
        "on-failure",
        "yes",
        "strict",
    )
    assert settings["User"] == "monotreme"
