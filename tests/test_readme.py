"""README.md stays true: its --help text is what the code prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_help_text_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/readme_help.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert commands == ["bash demo/run.sh", "bash scripts/test.sh"]
    assert (ROOT / "demo" / "run.sh").exists()
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
