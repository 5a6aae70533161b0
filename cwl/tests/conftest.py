"""Runs the `*.cwltest.yml` cases here with cwltest's pytest plugin: the plugin collects
them; this hook runs each with this environment's cwltool, without containers, and with
update-job from the same environment first on PATH.

    pytest cwl/tests

The cases need no AWS; the runner gets no AWS settings from this environment all the same
(cwltool passes a step only HOME, TMPDIR and PATH), and the instance-metadata lookup, an
address off this machine, is switched off for good measure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

BIN = Path(sys.executable).parent
CWLTOOL = BIN / "cwltool"


def local_path(reference: str) -> str:
    """A cwltest tool or job reference (a file URI or a path) as a local path."""
    if reference.startswith("file://"):
        return unquote(urlparse(reference).path)
    return str(Path(reference).resolve())


def pytest_cwl_execute_test(
    config: Any, processfile: str, jobfile: str | None
) -> tuple[int, dict[str, Any] | None]:
    outdir = Path(config.outdir)
    command = [
        str(CWLTOOL),
        "--no-container",
        "--quiet",
        "--preserve-environment",
        "AWS_EC2_METADATA_DISABLED",
        "--outdir",
        str(outdir / "out"),
        "--tmpdir-prefix",
        str(outdir / "tmp-"),
        "--tmp-outdir-prefix",
        str(outdir / "tmp-out-"),
        local_path(processfile),
    ]
    if jobfile is not None:
        command.append(local_path(jobfile))
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        return result.returncode, None
    outputs = json.loads(result.stdout)
    if not isinstance(outputs, dict):
        raise TypeError(f"cwltool printed {type(outputs).__name__}, not an output object")
    return 0, outputs
