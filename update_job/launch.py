"""The `update-job` command's entry point: signal handlers first, then everything else.

Importing click, pydantic and the model takes a good part of a second on a loaded worker; a
batch system's SIGTERM in that time must keep the update like any other (see interrupts).
"""

from __future__ import annotations

from typing import NoReturn


def main() -> NoReturn:
    from update_job import interrupts

    interrupts.install()
    from update_job.cli import main as cli_main

    cli_main()
