"""Regenerate the `--help` blocks in the docs from the code, or check they are current.

A block is written between `<!-- help: ARGS -->` and `<!-- /help -->`, where ARGS are the
arguments to update-job, e.g. `<!-- help: publish --help -->`.

    python scripts/readme_help.py          # rewrite README.md and docs/*.md
    python scripts/readme_help.py --check  # exit 1 if any of them is out of date
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from click.testing import CliRunner

from update_job.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- help: (?P<args>.*?) -->\n).*?(<!-- /help -->)", re.DOTALL)


def help_text(args: str) -> str:
    result = CliRunner().invoke(cli, shlex.split(args), prog_name="update-job", terminal_width=88)
    if result.exit_code != 0:
        raise SystemExit(f"update-job {args} exited {result.exit_code}: {result.output}")
    return result.stdout


def regenerate(text: str) -> str:
    def block(match: re.Match[str]) -> str:
        return f"{match[1]}```text\n{help_text(match['args'])}```\n{match[3]}"

    return BLOCK.sub(block, text)


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for doc in DOCS:
        current = doc.read_text(encoding="utf-8")
        fresh = regenerate(current)
        if fresh == current:
            continue
        if check:
            stale.append(doc.relative_to(ROOT))
        else:
            doc.write_text(fresh, encoding="utf-8")
    for doc in stale:
        print(f"{doc}: the --help text is out of date: run python scripts/readme_help.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
