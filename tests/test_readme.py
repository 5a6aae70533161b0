"""README.md and docs/ stay true: their --help text is what the code prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_help_text_in_the_docs_is_current() -> None:
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


def test_every_command_has_its_help_in_the_docs() -> None:
    from update_job.cli import cli

    reference = (ROOT / "docs" / "cli.md").read_text()
    for name in cli.commands:
        assert f"<!-- help: {name} --help -->" in reference, name


def test_docs_links_point_at_files_that_exist() -> None:
    import re

    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)\)", doc.read_text()):
            assert "://" not in target, f"{doc.name} links outside the repository: {target}"
            assert (doc.parent / target).exists(), f"{doc.name}: {target} does not exist"


def test_the_docs_commands_need_no_variable_that_may_be_unset() -> None:
    """TMPDIR is often unset: "$TMPDIR/x" would then be /x. A command uses mktemp."""
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        blocks = [block.split("```", 1)[0] for block in doc.read_text().split("```bash\n")[1:]]
        for block in blocks:
            assert '"$TMPDIR/' not in block and "${TMPDIR}/" not in block, doc.name


def test_the_readme_says_before_the_tests_run_what_they_install_as_root() -> None:
    readme = (ROOT / "README.md").read_text()
    first_screen = readme.split("## Where it sits", 1)[0]
    for words in ("as\nroot", "podman", "apt-get", "base image", "slurm-wlm", "munge",
                  '-m "not\ncontainer'):  # fmt: skip
        assert words.replace("\n", " ") in " ".join(first_screen.split()), words
    # The output of both commands is shown, not only the commands.
    assert "demo: done" in first_screen and "passed in" in first_screen
