"""Runs the `*.cwltest.yml` cases here with cwltest's pytest plugin: the plugin collects
them; this hook runs each with the tests' shared runner helper (tests/cwlrun.py): this
environment's cwltool, without containers, update-job from the same environment first on
PATH, nothing fetched off this machine.

    pytest cwl/tests

The cases need no AWS. (tests/test_toil.py runs the same file with
`cwltest --tool toil-cwl-runner`.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from tests.cwlrun import run_cwl


def local_path(reference: str) -> str:
    """A cwltest tool or job reference (a file URI or a path) as a local path."""
    if reference.startswith("file://"):
        return unquote(urlparse(reference).path)
    return str(Path(reference).resolve())


def pytest_cwl_execute_test(
    config: Any, processfile: str, jobfile: str | None
) -> tuple[int, dict[str, Any] | None]:
    result = run_cwl(
        local_path(processfile),
        None if jobfile is None else Path(local_path(jobfile)),
        Path(config.outdir),
        "--quiet",
        preserve=("AWS_EC2_METADATA_DISABLED",),
        # No instance-metadata lookup, an address off this machine, for good measure.
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        return result.returncode, None
    return 0, result.outputs
