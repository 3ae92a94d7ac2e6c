"""The package's layering (pyproject.toml, [tool.importlinter]): no module imports from a layer above its
own, so there is no import cycle. `lint-imports` reads every import, including those inside functions."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_layers_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_python_dash_m_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "worldjepa", "configs"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "tiny-cpu" in done.stdout.split() and "wm-two-rooms" in done.stdout.split()
