"""Start-up without pydantic's plugin discovery when no pydantic plugin is installed, and
with it (the plugin loaded and called) when one is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from update_job.startup import pydantic_plugin_may_be_installed

DRY_RUN = ["-m", "update_job", "--job-id", "j-1", "--status", "running", "--dry-run"]

PLUGIN = """
import os


class MarkerPlugin:
    def new_schema_validator(self, schema, schema_type, path, kind, config, settings):
        with open(os.environ["MARKER_FILE"], "a") as marker:
            marker.write(path.name + "\\n")
        return None, None, None


plugin = MarkerPlugin()
"""


def run_python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def install_plugin(site: Path) -> None:
    """A distribution declaring a `pydantic` entry point, as pip would install it."""
    (site / "marker_plugin.py").write_text(PLUGIN)
    dist_info = site / "marker_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: marker-plugin\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text("[pydantic]\nmarker = marker_plugin:plugin\n")


def test_a_dry_run_does_not_load_importlib_metadata() -> None:
    result = run_python("-X", "importtime", *DRY_RUN)
    assert result.returncode == 0, result.stderr
    imported = {
        line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if "|" in line
    }
    assert '"status": "running"' in result.stdout  # the model was built and used...
    assert "importlib.metadata" not in imported  # ...without the plugin loader's scan


def test_an_installed_plugin_is_still_loaded_and_called(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site)
    marker = tmp_path / "marker.txt"
    result = run_python(*DRY_RUN, env={"PYTHONPATH": str(site), "MARKER_FILE": str(marker)})
    assert result.returncode == 0, result.stderr
    assert "JobUpdate" in marker.read_text()


def test_plugin_detection(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not pydantic_plugin_may_be_installed([str(empty), str(tmp_path / "missing")])
    other = tmp_path / "other"
    (other / "tool-1.0.dist-info").mkdir(parents=True)
    (other / "tool-1.0.dist-info" / "entry_points.txt").write_text("[console_scripts]\nt = t:m\n")
    assert not pydantic_plugin_may_be_installed([str(other)])
    with_plugin = tmp_path / "with"
    with_plugin.mkdir()
    install_plugin(with_plugin)
    assert pydantic_plugin_may_be_installed([str(empty), str(with_plugin)])
    archive = tmp_path / "packages.zip"
    archive.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: not read, so "maybe"
    assert pydantic_plugin_may_be_installed([str(archive)])
