"""Benchmark: update-job against `aws sns publish` and a boto3 one-liner, as whole processes.

Starts moto_server on loopback, creates a standard topic with a queue subscribed, then runs
each command `--runs` times, round-robin, timing each process's wall time and reading its
peak RSS from os.wait4. Prints a markdown table with paired ratios against
`aws sns publish` and the targets, why a missed target is missed, where the import time
goes (`python -X importtime`), and the hardware.

    .venv/bin/python bench/run.py [--runs 15] [--check]

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import marshal
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localaws import (  # noqa: E402
    LOCAL_AWS_ENV,
    MotoServer,
    subscribe_queue,
)

AWS_CLI_VENV = REPO / "bench" / ".venv-awscli"
AWS_CLI = AWS_CLI_VENV / "bin" / "aws"
# update-job as users have it: a regular install of this tree (bench/setup.sh), not the
# editable one in .venv, whose import hook costs every process some 10 ms.
APP_VENV = REPO / "bench" / ".venv-update-job"
PYTHON = str(APP_VENV / "bin" / "python")
UPDATE_JOB = str(APP_VENV / "bin" / "update-job")
REGION = LOCAL_AWS_ENV["AWS_DEFAULT_REGION"]
JOB_ID = "bench-job-0001"

# The targets, as fractions of `aws sns publish`: (wall, peak RSS); None = no target.
TARGETS: dict[str, tuple[float | None, float | None]] = {
    "update-job (publish)": (0.70, 0.95),
    "update-job --dry-run": (0.33, None),
}
REFERENCE = "aws sns publish"
FLOOR = "botocore floor"
BARE = "python -c pass"
PUBLISH, DRY_RUN = "update-job (publish)", "update-job --dry-run"


@dataclass
class Command:
    name: str
    argv: list[str]
    walls: list[float] = field(default_factory=list)  # seconds
    rss: list[float] = field(default_factory=list)  # MiB


@dataclass
class Run:
    wall: float
    rss_mib: float
    returncode: int
    stdout: str
    stderr: str


def child_env() -> dict[str, str]:
    """A small, fixed environment: only loopback AWS, no user config or profiles."""
    env = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ
    }
    env.update(LOCAL_AWS_ENV)
    return env


class Launcher:
    """bench/launcher.py: a small process that runs each command and times it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [PYTHON, "-I", "-S", str(REPO / "bench" / "launcher.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests, self.replies = self.process.stdin, self.process.stdout
        self.peak_rss_mib: float = marshal.load(self.replies) / 1024  # noqa: S302 (our launcher)
        self.scratch = tempfile.TemporaryDirectory(prefix="update-job-bench-")

    def run(self, argv: list[str]) -> Run:
        """One whole process: wall time around it, and its own peak RSS from wait4."""
        out, err = Path(self.scratch.name, "stdout"), Path(self.scratch.name, "stderr")
        marshal.dump((argv, self.env, str(out), str(err)), self.requests)
        self.requests.flush()
        wall, rss_kib, returncode = marshal.load(self.replies)  # noqa: S302 (our own launcher)
        return Run(
            wall,
            rss_kib / 1024,  # Linux reports KiB
            returncode,
            out.read_text(errors="replace"),
            err.read_text(errors="replace"),
        )

    def close(self) -> None:
        self.requests.close()
        self.process.wait(timeout=10)
        self.replies.close()
        self.scratch.cleanup()


def checked(command: Command, run: Run) -> Run:
    if run.returncode != 0:
        raise SystemExit(
            f"bench: {command.name} exited {run.returncode}:\n{run.stderr or run.stdout}"
        )
    return run


def make_commands(topic_arn: str, endpoint_url: str, message: str) -> list[Command]:
    update_job = [
        UPDATE_JOB,
        "--job-id",
        JOB_ID,
        "--status",
        "running",
        "--topic-arn",
        topic_arn,
        "--endpoint-url",
        endpoint_url,
    ]
    one_liner = (
        "import sys, boto3; boto3.client('sns', region_name=sys.argv[1], "
        "endpoint_url=sys.argv[2]).publish(TopicArn=sys.argv[3], Message=sys.argv[4])"
    )
    botocore_floor = (
        "import sys; from update_job.aws import make_client; make_client('sns', sys.argv[1], "
        "sys.argv[2]).publish(TopicArn=sys.argv[3], Message=sys.argv[4])"
    )
    return [
        Command("update-job (publish)", update_job),
        Command("update-job --dry-run", [*update_job, "--dry-run"]),
        Command(
            REFERENCE,
            [
                str(AWS_CLI),
                "sns",
                "publish",
                "--region",
                REGION,
                "--topic-arn",
                topic_arn,
                "--message",
                message,
                "--endpoint-url",
                endpoint_url,
            ],
        ),
        Command(
            "boto3 one-liner",
            [PYTHON, "-c", one_liner, REGION, endpoint_url, topic_arn, message],
        ),
        # Floors, for reading the table: the interpreter alone, and what update-job's own
        # route to SNS (botocore's session and SNS client, made as update_job.aws makes it)
        # costs with no argument parsing and no validation.
        Command(
            "botocore floor",
            [PYTHON, "-c", botocore_floor, REGION, endpoint_url, topic_arn, message],
        ),
        Command("python -c pass", [PYTHON, "-c", "pass"]),
    ]


def measure(commands: list[Command], runs: int, launcher: Launcher) -> None:
    for command in commands:  # warm-up: page cache, .pyc files; not counted
        checked(command, launcher.run(command.argv))
    for round_ in range(runs):
        # Round-robin, starting one further each round, so noise and order hit all alike.
        shift = round_ % len(commands)
        for command in commands[shift:] + commands[:shift]:
            run = checked(command, launcher.run(command.argv))
            command.walls.append(run.wall)
            command.rss.append(run.rss_mib)


def quartiles(values: list[float]) -> tuple[float, float]:
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def paired_ratio(command: Command, reference: Command) -> float:
    """The median, over rounds, of this command's wall time over the reference's in the
    same round: noise that slows a whole round cancels out."""
    return statistics.median(
        mine / theirs for mine, theirs in zip(command.walls, reference.walls, strict=True)
    )


@dataclass
class Ratios:
    wall: float  # paired, vs aws
    rss: float  # medians, vs aws
    floor: float  # paired, vs the botocore floor


def ratios(commands: list[Command]) -> dict[str, Ratios]:
    by_name = {command.name: command for command in commands}
    reference, floor = by_name[REFERENCE], by_name[FLOOR]
    ref_rss = statistics.median(reference.rss)
    return {
        command.name: Ratios(
            paired_ratio(command, reference),
            statistics.median(command.rss) / ref_rss,
            paired_ratio(command, floor),
        )
        for command in commands
    }


def verdict(name: str, ratio: Ratios, reference: Command) -> tuple[str, bool]:
    """`met` or `missed by ...` for each target of the command (none: empty)."""
    wall_target, rss_target = TARGETS.get(name, (None, None))
    parts, ok = [], True
    for what, value, target, unit_ms in (
        ("wall", ratio.wall, wall_target, statistics.median(reference.walls) * 1000),
        ("RSS", ratio.rss, rss_target, None),
    ):
        if target is None:
            continue
        if value <= target:
            parts.append(f"{what} ≤ {target:.2f}x: met")
            continue
        ok = False
        excess = value - target
        size = f", about {excess * unit_ms:.0f} ms" if unit_ms is not None else ""
        parts.append(f"{what} ≤ {target:.2f}x: **missed by {excess:.2f}x**{size}")
    return "; ".join(parts), ok


def table(commands: list[Command], runs: int) -> tuple[str, bool]:
    reference = next(command for command in commands if command.name == REFERENCE)
    found = ratios(commands)
    lines = [
        f"| command ({runs} paired runs) | median wall ms | IQR ms | median peak RSS MiB "
        "| wall vs aws | RSS vs aws | wall vs botocore floor | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    ok = True
    for command in commands:
        q1, q3 = quartiles(command.walls)
        ratio = found[command.name]
        result, met = verdict(command.name, ratio, reference)
        ok = ok and met
        lines.append(
            f"| `{command.name}` | {statistics.median(command.walls) * 1000:.0f} "
            f"| {q1 * 1000:.0f}-{q3 * 1000:.0f} | {statistics.median(command.rss):.1f} "
            f"| {ratio.wall:.2f}x | {ratio.rss:.2f}x | {ratio.floor:.2f}x | {result} |"
        )
    return "\n".join(lines), ok


def explain(commands: list[Command], imports: dict[str, list[Import]]) -> str:
    """Why a missed wall-time target is missed, from this run's numbers: a publish is the
    botocore floor plus what the dry run costs over the bare interpreter (click, pydantic,
    the model), and the import times show what that is made of."""
    by_name = {command.name: command for command in commands}
    found = ratios(commands)
    aws_ms = statistics.median(by_name[REFERENCE].walls) * 1000
    bare_ms = statistics.median(by_name[BARE].walls) * 1000
    dry_ms = statistics.median(by_name[DRY_RUN].walls) * 1000
    cli_ms = dry_ms - bare_ms

    def cumulative(run: str, module: str) -> str:
        times = [item.cumulative_us for item in imports[run] if item.name == module]
        return f"{max(times) / 1000:.0f} ms" if times else "not imported"

    lines = []
    publish_target = TARGETS[PUBLISH][0]
    if publish_target is not None and found[PUBLISH].wall > publish_target:
        floor = found[FLOOR].wall
        lines.append(
            f"- **Publish, wall.** The target is {publish_target:.2f}x of `aws sns publish` "
            f"({publish_target * aws_ms:.0f} ms here); the publish is {found[PUBLISH].wall:.2f}x. "
            "The botocore floor alone (import "
            f"botocore, make the session and SNS client, publish; no CLI, no validation) is "
            f"{floor:.2f}x ({floor * aws_ms:.0f} ms), which leaves "
            f"{(publish_target - floor) * aws_ms:.0f} ms for everything update-job adds. "
            f"That is the dry run over the bare interpreter, {cli_ms:.0f} ms "
            f"({cli_ms / aws_ms:.2f}x): `update_job.message` (pydantic and the model) "
            f"{cumulative('dry-run', 'update_job.message')}, `click` "
            f"{cumulative('dry-run', 'click')} (`python -X importtime` below). In the publish, "
            f"`botocore.session` is {cumulative('publish', 'botocore.session')} and "
            f"`botocore.config` {cumulative('publish', 'botocore.config')} before the client "
            "is even made."
        )
    dry_target = TARGETS[DRY_RUN][0]
    if dry_target is not None and found[DRY_RUN].wall > dry_target:
        lines.append(
            f"- **Dry run, wall.** The target is {dry_target:.2f}x ({dry_target * aws_ms:.0f} ms "
            f"here); the dry run is {found[DRY_RUN].wall:.2f}x (median {dry_ms:.0f} ms), of "
            f"which the bare interpreter is {bare_ms:.0f} ms. It imports no botocore and "
            "(with no pydantic plugin installed) no importlib.metadata: the rest is "
            "`update_job.message` "
            f"{cumulative('dry-run', 'update_job.message')} (`pydantic` "
            f"{cumulative('dry-run', 'pydantic')}, of it `pydantic_core` "
            f"{cumulative('dry-run', 'pydantic_core')}), `click` "
            f"{cumulative('dry-run', 'click')} and `json` {cumulative('dry-run', 'json')}."
        )
    if not lines:
        return "Every target is met in this run."
    return "Missed targets, and why (this run's numbers):\n\n" + "\n".join(lines)


@dataclass
class Import:
    self_us: int
    cumulative_us: int
    depth: int
    name: str


def import_times(argv: list[str], launcher: Launcher) -> tuple[list[Import], Run]:
    run = launcher.run([PYTHON, "-X", "importtime", *argv])
    imports = []
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        stripped = name.lstrip()
        depth = (len(name) - len(stripped) - 1) // 2
        imports.append(Import(int(self_us), int(cumulative_us), depth, stripped.rstrip()))
    return imports, run


def import_summary(
    title: str, argv: list[str], launcher: Launcher, top: int, repeats: int = 5
) -> tuple[str, list[Import]]:
    """`python -X importtime` of a command, `repeats` times after a warm-up run (which
    writes any missing .pyc files): each module's median self and cumulative time."""
    import_times(argv, launcher)
    runs = [import_times(argv, launcher) for _ in range(repeats)]
    for _, run in runs:
        if run.returncode != 0:
            raise SystemExit(f"bench: importtime of {title} exited {run.returncode}:\n{run.stderr}")
    first = {item.name: item for item in runs[0][0]}
    per_run = [{item.name: item for item in imports} for imports, _ in runs]
    imports = [
        Import(
            int(statistics.median(seen[name].self_us for seen in per_run if name in seen)),
            int(statistics.median(seen[name].cumulative_us for seen in per_run if name in seen)),
            item.depth,
            name,
        )
        for name, item in first.items()
    ]
    total = sum(item.cumulative_us for item in imports if item.depth == 0)
    wall = statistics.median(run.wall for _, run in runs)
    lines = [
        f"#### `python -X importtime -m update_job {title}`",
        "",
        f"All imports: {total / 1000:.1f} ms, whole process {wall * 1000:.0f} ms (medians of "
        f"{repeats} runs). Largest cumulative entries (depth 0 = imported by the program "
        "itself):",
        "",
        "| cumulative ms | self ms | depth | module |",
        "|---:|---:|---:|---|",
    ]
    for item in sorted(imports, key=lambda item: item.cumulative_us, reverse=True)[:top]:
        lines.append(
            f"| {item.cumulative_us / 1000:.1f} | {item.self_us / 1000:.1f} | {item.depth} "
            f"| `{item.name}` |"
        )
    return "\n".join(lines), imports


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.0f} GiB RAM"
    except OSError:
        pass
    return "RAM unknown"


def versions() -> str:
    ours = [
        f"{name} {metadata.version(name)}"
        for name in ("update-job", "botocore", "boto3", "pydantic", "pydantic-core", "click")
    ]
    # e.g. "aws-cli/1.46.3 Python/3.11.7 Linux/6.1 botocore/1.43.62" (awscli vendors botocore)
    aws = subprocess.run(
        [str(AWS_CLI), "--version"], capture_output=True, text=True, check=True, env=child_env()
    ).stdout.split()
    return ", ".join([*ours, *(part for part in aws if not part.startswith(("Python/", "Linux/")))])


def hardware() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} CPUs, {memory_gib()}; {platform.platform()}; "
        f"Python {platform.python_version()}; {versions()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--top", type=int, default=12, help="import-time entries to show")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    if not AWS_CLI.exists():
        raise SystemExit(f"bench: no {AWS_CLI}: run `bash bench/setup.sh` first")

    launcher = Launcher(child_env())
    os.environ.update(LOCAL_AWS_ENV)  # for subscribe_queue's own clients
    try:
        with MotoServer() as server:
            topic = subscribe_queue(server.url, fifo=False, name="bench-jobs")
            message = json.dumps(
                {"id": JOB_ID, "status": "running", "updated": datetime.now(UTC).isoformat()},
                separators=(",", ":"),
            )
            commands = make_commands(topic.topic_arn, server.url, message)
            measure(commands, args.runs, launcher)
            result, ok = table(commands, args.runs)
            delivered = len(topic.receive())
            update = ["-m", "update_job", "--job-id", JOB_ID, "--status", "running"]
            destination = ["--topic-arn", topic.topic_arn, "--endpoint-url", server.url]
            dry_run_summary, dry_run_imports = import_summary(
                "... --dry-run", [*update, "--dry-run"], launcher, args.top
            )
            publish_summary, publish_imports = import_summary(
                "... (publish)", [*update, *destination], launcher, args.top
            )
    finally:
        launcher.close()

    print("### update-job vs `aws sns publish`: whole processes, moto_server on loopback")
    print()
    print(result)
    print()
    print(f"Hardware: {hardware()}.")
    print(
        f"Peak RSS of the launcher the commands are forked from: {launcher.peak_rss_mib:.1f} MiB "
        "(a floor under every RSS above)."
    )
    expected = (args.runs + 1) * 4  # every publishing command, its warm-up included
    print(f"Messages the subscribed queue received: {delivered} (expected {expected}).")
    print()
    print(explain(commands, {"dry-run": dry_run_imports, "publish": publish_imports}))
    print()
    print("### Where the time goes")
    print()
    print(dry_run_summary)
    print()
    print(publish_summary)
    if delivered != expected:
        print(f"bench: expected {expected} deliveries, the queue got {delivered}", file=sys.stderr)
        return 1
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
