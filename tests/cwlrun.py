"""One way for every test to run CWL: cwltool or Toil (toil-cwl-runner), without containers,
with this venv's update-job first on PATH, on this machine only.

Each runner hands the update steps the local AWS settings (localaws.LOCAL_AWS_ENV:
fake keys for moto, no instance-metadata lookup, no user AWS files) the way it can:
cwltool through --preserve-environment, Toil, which ignores that option, through
--preserve-entire-environment (Toil stores that environment in its job store: fine for
these fake keys, never for real ones). The endpoint reaches the steps as an input.

The CWL files name schema.org's vocabulary in `$schemas`, which a runner fetches: cwltool
is told --skip-schemas, and every runner gets an HTTP(S) proxy on a closed loopback port, so
no fetch leaves the machine (loopback itself is not proxied).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localaws import LOCAL_AWS_ENV

BIN = Path(sys.executable).parent
CWLTOOL = str(BIN / "cwltool")
TOIL = str(BIN / "toil-cwl-runner")
RUNNERS = ("cwltool", "toil")
CLOSED_PROXY = "http://127.0.0.1:9"
OFFLINE_ENV = {
    "HTTP_PROXY": CLOSED_PROXY,
    "HTTPS_PROXY": CLOSED_PROXY,
    "http_proxy": CLOSED_PROXY,
    "https_proxy": CLOSED_PROXY,
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
# A log record of cwltool or Toil starts a line with its level (cwltool's in colour codes).
LOG_RECORD = re.compile(r"\n(?=\S*(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\b)")


def runner_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's), with this venv first on PATH and no way off the
    machine for the runner's own fetches."""
    base = dict(os.environ if env is None else env)
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
    return {**base, **OFFLINE_ENV}


@dataclass
class CwlRun:
    runner: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def outputs(self) -> dict[str, Any]:
        """The output object the runner printed (a failed run may print none)."""
        parsed = json.loads(self.stdout)
        assert isinstance(parsed, dict), self.stdout
        return parsed


def runner_command(
    runner: str, workdir: Path, preserve: Iterable[str], batch_system: str = "single_machine"
) -> list[str]:
    """The runner's command line up to the CWL file: outputs and temporary files in
    `workdir`, the variables in `preserve` passed to the steps; Toil's jobs on
    `batch_system` (`slurm`: the cluster that SLURM_CONF in the runner's environment
    names)."""
    if runner == "cwltool":
        return [
            CWLTOOL, "--no-container", "--skip-schemas",
            *[arg for name in preserve for arg in ("--preserve-environment", name)],
            "--outdir", str(workdir / "out"),
            "--tmpdir-prefix", f"{workdir}/tmp/",
            "--tmp-outdir-prefix", f"{workdir}/tmp-out/",
        ]  # fmt: skip
    if runner == "toil":
        (workdir / "toil-work").mkdir(parents=True, exist_ok=True)
        return [
            TOIL, "--no-container",
            "--batchSystem", batch_system,
            "--jobStore", str(workdir / "jobstore"),
            "--workDir", str(workdir / "toil-work"),
            "--outdir", str(workdir / "out"),
            "--preserve-entire-environment",
            # Less chatter; warnings and the failed jobs' logs still show.
            "--logLevel", "INFO",
        ]  # fmt: skip
    raise ValueError(f"unknown runner {runner!r}")


def run_cwl(
    cwl: Path | str,
    job: dict[str, Any] | Path | None,
    workdir: Path,
    *options: str,
    runner: str = "cwltool",
    preserve: Iterable[str] = LOCAL_AWS_ENV,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 240,
    batch_system: str = "single_machine",
) -> CwlRun:
    """Run `cwl` with `job` (an object, written to `workdir`/job.json, or a job file) on
    `runner`; its outputs go to `workdir`/out. With `env`, the runner gets only that (and
    PATH), else this process's environment."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [*runner_command(runner, workdir, preserve, batch_system), *options, str(cwl)]
    if isinstance(job, dict):
        job_path = workdir / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        command.append(str(job_path))
    elif job is not None:
        command.append(str(job))
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=runner_env(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return CwlRun(runner, result.returncode, result.stdout, result.stderr)


def validate(cwl: Path, cwd: Path | None = None) -> CwlRun:
    """cwltool --validate, offline."""
    result = subprocess.run(
        [CWLTOOL, "--skip-schemas", "--validate", str(cwl)],
        capture_output=True,
        text=True,
        env=runner_env(),
        cwd=cwd,
        timeout=120,
        check=False,
    )
    return CwlRun("cwltool", result.returncode, result.stdout, result.stderr)


def warnings_but_schema_org(log: str) -> list[str]:
    """The log's warnings, but those that only say schema.org's vocabulary (for the `s:`
    metadata, fetched from the web) was not loaded: tests run offline."""
    records = LOG_RECORD.split(log)
    return [
        record
        for record in records
        if "warning" in record.lower() and "https://schema.org/" not in record
    ]
