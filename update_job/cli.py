"""The update-job command line: parse, call one plain function, turn its errors into exit codes."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

import click
from click_default_group import DefaultGroup

from update_job import __version__
from update_job.aws import AUTH_METHODS, use_unity_keys
from update_job.endpoint import check_endpoint_url, check_endpoint_variables
from update_job.errors import InvalidUpdate, NoStatus, NoTopic, UpdateJobError
from update_job.message import (
    STATUS_WORDS,
    Status,
    UnknownStatus,
    json_schema,
    make_update,
    parse_extra_statuses,
)
from update_job.sender import Receipt, Sender
from update_job.sns import DEFAULT_TIMEOUT
from update_job.values import job_inputs, job_outputs, load_text

Command = TypeVar("Command", bound=Callable[..., Any])

SPOOL_DIR_VARIABLE = "UPDATE_JOB_SPOOL_DIR"


def in_cli_words(error: UpdateJobError) -> str:
    """The error's one line, saying which option or variable to set where it is about one."""
    if isinstance(error, NoStatus):
        return f"{error}: give --status or --exit-code"
    if isinstance(error, NoTopic):
        return f"{error}: give --topic-arn or set UPDATE_JOB_TOPIC_ARN"
    if isinstance(error, UnknownStatus):
        return (
            f"{error} (a deployment adds its own with --extra-statuses or "
            "UPDATE_JOB_EXTRA_STATUSES)"
        )
    return str(error)


class DefaultCommandGroup(DefaultGroup):
    """A group that runs `publish` when the first argument names no command, so the step in
    a workflow stays `update-job --job-id ... --status ...`; errors, click's and
    update-job's own, are one line on stderr, here and nowhere else."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The help says in words which command is the default: no `*` mark after its name.
        click.Group.format_commands(self, ctx, formatter)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:
            # Nothing asked: the help itself, as it is, rather than as an error line.
            click.echo(error.format_message(), err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            message = " ".join(error.format_message().split())
            if isinstance(error, click.UsageError) and error.ctx is not None:
                message += f" (see '{error.ctx.command_path} --help')"
            click.echo(f"update-job: error: {message}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("update-job: aborted", err=True)
            sys.exit(1)
        except UpdateJobError as error:
            message = " ".join(in_cli_words(error).split())
            click.echo(f"update-job: error: {message}", err=True)
            sys.exit(error.exit_code)
        sys.exit(result if isinstance(result, int) else 0)


class Seconds(click.FloatRange):
    """A duration in seconds: a number from `minimum` (0.1) to a day. A longer timeout or
    heartbeat is a mistake (past some size, too large for the clock's arithmetic); NaN is
    no number."""

    def __init__(self, minimum: float = 0.1) -> None:
        super().__init__(min=minimum, max=86_400.0)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail(f"{value!r} is not a number", param, ctx)
        return seconds


class Text(click.types.StringParamType):
    """Text that can be sent: the command line's bytes that are not UTF-8 reach Python as
    lone surrogates, which no JSON encoder may write."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = super().convert(value, param, ctx)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("not valid UTF-8 text", param, ctx)
        return text


class EndpointURL(click.types.StringParamType):
    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return check_endpoint_url(super().convert(value, param, ctx))
        except InvalidUpdate as error:
            self.fail(str(error), param, ctx)


class SpoolDir(click.Path):
    """A spool directory: never the empty path, which would be the current directory."""

    def __init__(self) -> None:
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value:
            self.fail("an empty path is no spool directory", param, ctx)
        return super().convert(value, param, ctx)


TEXT = Text()


def sender_options(command: Command) -> Command:
    """Where an update goes and what is done when it cannot, for every command that sends
    one: these options, handed to the command as one `sender`."""

    @functools.wraps(command)
    def with_sender(  # noqa: PLR0913 - click hands each option over as a keyword argument
        *args: Any,
        topic_arn: str | None,
        endpoint_url: str | None,
        timeout: float,
        spool_dir: Path | None,
        best_effort: bool,
        dry_run: bool,
        **kwargs: Any,
    ) -> Any:
        if spool_dir is None and os.environ.get(SPOOL_DIR_VARIABLE) == "":
            # Set, but to nothing (`UPDATE_JOB_SPOOL_DIR=$UNSET`): a spool was meant.
            raise click.BadParameter(
                f"{SPOOL_DIR_VARIABLE} is set to an empty path, which is no spool directory",
                param_hint="'--spool'",
            )
        if endpoint_url is None:
            # botocore's endpoint variables, checked like --endpoint-url: bad input, before
            # anything is sent or spooled, not a delivery failure after botocore's retries.
            check_endpoint_variables(os.environ, sending=not dry_run)
        sender = Sender(topic_arn, endpoint_url, timeout, spool_dir, best_effort, dry_run)
        return command(*args, sender=sender, **kwargs)

    options = [
        click.option(
            "--topic-arn",
            envvar="UPDATE_JOB_TOPIC_ARN",
            show_envvar=True,
            help="The jobs database's SNS topic; its region is the one used.",
        ),
        click.option(
            "--endpoint-url",
            type=EndpointURL(),
            help="SNS endpoint, e.g. a local one (default: AWS_ENDPOINT_URL_SNS, "
            "AWS_ENDPOINT_URL, else AWS).",
        ),
        click.option(
            "--timeout",
            type=Seconds(),
            default=DEFAULT_TIMEOUT,
            show_default=True,
            envvar="UPDATE_JOB_TIMEOUT",
            show_envvar=True,
            help="Give up delivering after this many seconds, retries included.",
        ),
        click.option(
            "--spool",
            "spool_dir",
            type=SpoolDir(),
            envvar=SPOOL_DIR_VARIABLE,
            show_envvar=True,
            help="Send every update through its job's outbox in this directory (private "
            "to you): a job's updates leave in the order they were made, and one that "
            "cannot be delivered waits there for `update-job replay`.",
        ),
        click.option(
            "--best-effort",
            is_flag=True,
            help="Exit as if delivered (0, or the --exit-code) when delivery fails, with a "
            "warning: the workflow goes on without the jobs database.",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Print what would be published; send nothing, need no AWS.",
        ),
    ]
    return apply_options(options, cast(Command, with_sender))


def job_options(command: Command) -> Command:
    """Who the job is, for every command that sends updates."""
    options = [
        click.option(
            "--job-id",
            required=True,
            type=TEXT,
            help="The job's id, as the processing server gave it.",
        ),
        click.option(
            "--label",
            "labels",
            type=TEXT,
            multiple=True,
            help="A label to find the job by, repeatable. The labels given replace all the "
            "job's stored labels (give every one it should keep); without --label they stay.",
        ),
        # Not TEXT: a file's name need not be UTF-8; the JSON's text is checked once read.
        click.option("--inputs", metavar="JSON|@FILE", help="The job's inputs, a JSON object."),
        click.option("--user-id", type=TEXT, help="Who runs the job."),
    ]
    return apply_options(options, command)


def status_words(_: click.Context, __: click.Parameter, value: str) -> frozenset[str]:
    """A deployment's own status words, comma-separated."""
    try:
        return parse_extra_statuses(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


extra_statuses_option = click.option(
    "--extra-statuses",
    metavar="WORD,...",
    default="",
    callback=status_words,
    envvar="UPDATE_JOB_EXTRA_STATUSES",
    show_envvar=True,
    help="Statuses this deployment adds to submitted, running, succeeded and failed, "
    "comma-separated (e.g. dismissed,paused); published lowercase.",
)


def apply_options(options: list[Callable[[Any], Any]], command: Command) -> Command:
    for option in reversed(options):
        command = option(command)
    return command


def warn(text: str) -> None:
    click.echo(f"update-job: warning: {text}", err=True)


RUNNER_INTERNAL = (
    "is internal to the workflow runner, not a URL: reported as null (report the stage-out "
    "step's URLs, or run the workflow under `update-job run --outputs-from-stdout`)"
)
TEMPORARY = (
    "is in a temporary directory of this machine, deleted after the run: publish the "
    "lasting locations the workflow stages its outputs out to (docs/cwl.md)"
)


def warn_locations(locations: list[str], why: str) -> None:
    for location in locations:
        warn(f"output location {location[:200]!r} {why}")


def report_sent(receipt: Receipt) -> None:
    """The log line on stderr: what was published, or the warning that it was not."""
    for text in receipt.warnings:
        warn(text)
    if receipt.message_id is not None:
        update = receipt.update
        click.echo(
            f"update-job: published {update.status} for job {update.id} "
            f"(message id {receipt.message_id})",
            err=True,
        )
    elif receipt.skipped is not None:
        warn(f"not published: {receipt.skipped}")
    elif receipt.problem is not None:
        lost = "" if receipt.spool_dir else "; no --spool: this update is lost"
        warn(f"not delivered: {receipt.problem}{lost}")


# What `submitted` does in the jobs database: its consumer indexes it, where it merges every
# other status into the document it has.
SUBMITTED_REPLACES = (
    "status submitted makes the jobs database replace the job's whole document with this "
    "update: the inputs and labels the processing server stored are lost unless it carries "
    "them (a workflow step reports running, succeeded or failed)"
)


def process_exit_status(exit_code: int) -> int:
    """The status to exit with for a step's exit code: a process cannot exit with a negative
    code (a signal) or one over 255 (which would wrap, 256 to success), so those exit 1."""
    return exit_code if 0 <= exit_code <= 255 else 1


@click.group(
    cls=DefaultCommandGroup,
    default="publish",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="update-job")
def cli() -> None:
    """Publish a job's status update to the jobs database's SNS topic.

    The command defaults to `publish`: `update-job --job-id ID --status running ...`
    is `update-job publish --job-id ID --status running ...`.
    """


@cli.command(name="publish")
@job_options
@click.option(
    "--status",
    metavar="STATUS",
    help=f"One of {STATUS_WORDS}, or of --extra-statuses (any case; OGC's accepted and "
    "successful too). A final status sets a final --message unless given, and progress 100 "
    "on success.",
)
@extra_statuses_option
@click.option(
    "--exit-code",
    # A 32-bit integer, as the index maps it: a larger one would make the update a message
    # the consumer cannot store, and the job would stay `running`.
    type=click.IntRange(-(2**31), 2**31 - 1),
    help="A workflow's exit code: status succeeded for 0, else failed (unless --status is "
    "given); goes in the message, and update-job exits with it after publishing.",
)
@click.option(
    "--outputs",
    metavar="JSON|@FILE",
    help="The job's outputs: a JSON object (a CWL output object's File and Directory values "
    "become their location URLs), or a CWL File or Directory object or an array of them "
    "(each becomes basename: location URL).",
)
@click.option(
    "--exit-zero",
    is_flag=True,
    help="With --exit-code: exit 0 once published, not with the code (a step that a "
    "runner may retry must not fail after publishing).",
)
@click.option("--message", type=TEXT, help="A note on the job's state, for people.")
@click.option(
    "--message-file",
    metavar="FILE",
    help="The --message, read from FILE as it is (UTF-8): for text too long for a command line.",
)
@click.option(
    "--auth-method",
    type=click.Choice(AUTH_METHODS),
    default="iam",
    show_default=True,
    help="Unity SPS's methods: iam, AWS's default credential chain; keys, Unity's variables "
    "ACCESS_KEY, SECRET_KEY and SESSION_TOKEN when set, else that chain.",
)
@click.option("--progress", metavar="0..100", help="Percent done.")
@click.option(
    "--start-time",
    metavar="now|ISO-8601",
    help="Set the job's start-time: now, or an ISO 8601 time (without a zone: UTC).",
)
@sender_options
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON receipt instead of the message id."
)
@click.pass_context
def publish_command(  # noqa: PLR0913, PLR0917 - click hands each option over as an argument
    ctx: click.Context,
    job_id: str,
    labels: tuple[str, ...],
    inputs: str | None,
    user_id: str | None,
    status: str | None,
    extra_statuses: frozenset[str],
    exit_code: int | None,
    exit_zero: bool,
    outputs: str | None,
    message: str | None,
    message_file: str | None,
    auth_method: str,
    progress: str | None,
    start_time: str | None,
    sender: Sender,
    as_json: bool,
) -> None:
    """Publish one update of a job (the default command).

    Prints the SNS message id (with --json or --dry-run, a JSON receipt). Exit codes:
    0 published, 1 not delivered, 2 bad input (nothing published); with --exit-code N,
    N once published.
    """
    message = message_text(message, message_file)
    job_in = None if inputs is None else job_inputs(inputs, "--inputs")
    job_out = None if outputs is None else outputs_value(outputs)
    if auth_method == "keys":
        use_unity_keys(os.environ)
    update = make_update(
        job_id,
        # An empty status is none (a workflow's default ""): --exit-code may then set it.
        status or None,
        exit_code,
        extra_statuses,
        inputs=job_in,
        outputs=job_out,
        labels=list(labels),
        message=message,
        progress=progress,
        user_id=user_id,
        start_time=start_time,
    )
    if update.status == Status.SUBMITTED:
        warn(SUBMITTED_REPLACES)
    receipt = sender.send(update)
    report_sent(receipt)
    if as_json or sender.dry_run:
        click.echo(json.dumps(receipt.as_json(), indent=2, ensure_ascii=False))
    elif receipt.message_id is not None:
        click.echo(receipt.message_id)
    if exit_code is not None and not exit_zero:
        ctx.exit(process_exit_status(exit_code))


def message_text(message: str | None, message_file: str | None) -> str | None:
    """--message, or the text of --message-file (never both)."""
    if message_file is None:
        return message
    if message is not None:
        raise click.UsageError("give --message or --message-file, not both")
    return load_text(message_file, "--message-file")


def outputs_value(outputs: str) -> Any:
    """The --outputs value as published, saying which locations will not last."""
    internal: list[str] = []
    temporary: list[str] = []
    try:
        return job_outputs(outputs, "--outputs", internal, temporary)
    finally:
        warn_locations(internal, RUNNER_INTERNAL)
        warn_locations(temporary, TEMPORARY)


@cli.command(name="replay")
@click.argument("spool_dir", type=SpoolDir())
@click.option(
    "--endpoint-url",
    type=EndpointURL(),
    help="SNS endpoint (default: the one each update was sent to).",
)
@click.option(
    "--timeout",
    type=Seconds(),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Give up on one update after this many seconds, retries included.",
)
@click.option(
    "--deadline",
    type=Seconds(),
    metavar="SECONDS",
    help="Start no update after this many seconds in all (waiting for a job's lock "
    "included); those not tried stay for the next replay. Default: no limit.",
)
def replay_command(
    spool_dir: Path, endpoint_url: str | None, timeout: float, deadline: float | None
) -> None:
    """Send every job's outbox in SPOOL_DIR, each job's updates oldest first.

    Deletes each update once SNS acknowledged it; prints a line per update. An update that
    is not delivered holds back the later ones of its job (never another job's). A file
    that is not an update, or whose parameters SNS or botocore refuse for good, is moved to
    SPOOL_DIR/rejected with a .reason file; a topic not found (a wrong endpoint or region)
    keeps every update. Safe to run again, alongside another replay or while jobs send.
    Exits 1 if any update is left or rejected, 2 if SPOOL_DIR is no spool directory (nor
    empty), not private to its user or unusable, or the endpoint variable
    (AWS_ENDPOINT_URL_SNS, AWS_ENDPOINT_URL) is malformed; a signal stops it with the
    updates not yet sent left in place.
    """
    from update_job.replay import replay

    if endpoint_url is None:
        check_endpoint_variables(os.environ)  # as for publish: bad input, not a failed send
    report = replay(spool_dir, endpoint_url, timeout, deadline)
    for path, what in report.sent:
        click.echo(f"sent {path.name} ({what})")
    for path, reason in report.left:
        click.echo(f"left {path.name}: {reason}")
    for path in report.not_tried:
        click.echo(f"left {path.name}: not tried: --deadline reached")
    for path, reason in report.rejected:
        click.echo(f"rejected {path.name}, moved to {path.parent}: {reason}")
    left = len(report.left) + len(report.not_tried)
    summary = f"replayed {len(report.sent)}, {left} left in {spool_dir}"
    if report.rejected:
        summary += f", {len(report.rejected)} rejected"
    click.echo(f"update-job: {summary}", err=True)
    if report.interrupted is not None:
        sys.exit(128 + report.interrupted)
    if left or report.rejected:
        sys.exit(1)


class RunReporting:
    """What `run` says, on stderr: stdout is the command's."""

    def sent(self, receipt: Receipt) -> None:
        # A dry run shows the message on stderr, too.
        if receipt.dry_run:
            click.echo(
                f"update-job: dry run, would publish {receipt.envelope['Message']}", err=True
            )
        else:
            report_sent(receipt)

    def warn(self, text: str) -> None:
        warn(text)

    def no_outputs(self, reason: str) -> None:
        warn(f"--outputs-from-stdout: {reason}; no outputs sent")

    def runner_internal(self, locations: list[str]) -> None:
        warn_locations(locations, RUNNER_INTERNAL)


# click.command, then add_command: the group's typed `command` takes no other settings.
@click.command(options_metavar="[OPTIONS] --", context_settings={"allow_interspersed_args": False})
@job_options
@click.option(
    "--outputs-from-stdout",
    is_flag=True,
    help="COMMAND is a CWL runner: the last JSON object it prints on stdout (cwltool's "
    "output object) becomes the final update's outputs, files as location URLs.",
)
@click.option(
    "--heartbeat",
    type=Seconds(),
    metavar="SECONDS",
    help="Also publish `running`, with the time so far, every SECONDS while COMMAND runs.",
)
@click.option(
    "--kill-after",
    type=Seconds(minimum=0),
    metavar="SECONDS",
    default=10.0,
    show_default=True,
    help="After passing SIGTERM or SIGINT on, kill COMMAND (SIGKILL, its process group "
    "too) if it still runs this many seconds later; the final update still goes.",
)
@click.option(
    "--step-updates",
    is_flag=True,
    help="COMMAND is cwltool or toil-cwl-runner: follow its steps (cwltool's log on stderr, "
    "passed through; Toil's message bus, which --writeMessages is added to write) and "
    "publish `running` as they finish, with `progress` the share of the workflow's steps "
    "finished and `message` the step; a failed step is named in the final update.",
)
@sender_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run(  # noqa: PLR0913, PLR0917 - click hands each option over as an argument
    ctx: click.Context,
    job_id: str,
    labels: tuple[str, ...],
    inputs: str | None,
    user_id: str | None,
    outputs_from_stdout: bool,
    heartbeat: float | None,
    kill_after: float,
    step_updates: bool,
    sender: Sender,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND between a `running` and a final update of the job.

    Publishes `running` (with start-time), runs COMMAND with its stdin, stdout and stderr
    passed through, then publishes `succeeded` or `failed` with stop-time and the exit
    code, and exits with COMMAND's exit code (128+N if signal N killed it). SIGTERM and
    SIGINT go to COMMAND (to its process group when not run from a terminal), which is
    killed if it still runs --kill-after seconds later; its final update, `failed` with
    the signal in `message`, still goes out.

    The start and heartbeat updates never hold COMMAND back: whatever happens to them,
    update-job warns (and spools them with --spool) and runs it anyway. If the final update
    is not delivered, update-job warns and still exits with COMMAND's code when that is not
    0; when COMMAND succeeded it exits 1 (0 with --best-effort). Bad options exit 2 without
    running COMMAND.
    """
    # Only this command needs subprocess and its kin.
    from update_job.supervise import Supervision, Supervisor

    job = make_update(
        job_id,
        "running",
        labels=list(labels),
        inputs=None if inputs is None else job_inputs(inputs, "--inputs"),
        user_id=user_id,
        start_time="now",
    )
    supervision = Supervision(command, outputs_from_stdout, heartbeat, kill_after, step_updates)
    status = Supervisor(job, supervision, sender, RunReporting()).run()
    ctx.exit(process_exit_status(status))


cli.add_command(run)


@cli.command()
@click.argument("workflow", metavar="WORKFLOW.cwl")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the wrapper to this file (default: stdout). It runs WORKFLOW.cwl by its "
    "path relative to this file's directory (default: the current one).",
)
@click.option(
    "--tool",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The Update Job CommandLineTool to copy into the wrapper (default: the one "
    "installed with update-job, cwl/update-job.cwl).",
)
@click.option(
    "--step-updates",
    is_flag=True,
    help="WORKFLOW.cwl is a workflow: run a copy of it with a best-effort `running` update "
    "after each of its steps (`STEP finished (K of N)`, progress K/N; never backwards).",
)
def wrap(workflow: str, output: Path | None, tool: Path | None, step_updates: bool) -> None:
    """Write a CWL workflow that runs WORKFLOW.cwl between a start and an end update.

    WORKFLOW.cwl is a workflow or a tool (FILE#ID in a packed file), CWL v1.0 to v1.2. The
    wrapper is CWL v1.2 with the Update Job tool copied in; it has WORKFLOW.cwl's inputs
    and outputs, plus job_id, jobs_data_sns_topic_arn (as the processing server passes
    the topic; optional, a dry run needs none) and labels (and the tool's endpoint_url,
    aws_region, user_id and dry_run). Within CWL it cannot report every failure of
    WORKFLOW.cwl: its doc says so, and how `update-job run` does.
    """
    # cwl-utils is slow to import and optional: only this command loads it.
    from update_job.wrap import wrap_workflow

    text = wrap_workflow(workflow, output, tool, step_updates)
    if output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"update-job: wrote {output}, which runs {workflow}", err=True)


# The JSON Schema dialect pydantic generates; named so validators need not guess it.
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@cli.command()
@extra_statuses_option
def schema(extra_statuses: frozenset[str]) -> None:
    """Print the update message's JSON Schema: the contract for consumers."""
    click.echo(
        json.dumps({"$schema": JSON_SCHEMA_DIALECT, **json_schema(extra_statuses)}, indent=2)
    )


@cli.command(name="help")
@click.argument("command_name", metavar="[COMMAND]", required=False)
@click.pass_context
def help_command(ctx: click.Context, command_name: str | None) -> None:
    """Show the help of update-job, or of COMMAND (as COMMAND --help does)."""
    group_ctx = ctx.parent or ctx
    if command_name is None:
        click.echo(cli.get_help(group_ctx))
        return
    # Not get_command: for a name it does not know, the default group answers `publish`.
    command = cli.commands.get(command_name)
    if command is None:
        raise click.UsageError(
            f"no command {command_name!r}: the commands are {', '.join(cli.list_commands(ctx))}",
            ctx,
        )
    with click.Context(command, info_name=command_name, parent=group_ctx) as command_ctx:
        click.echo(command.get_help(command_ctx))


def main() -> NoReturn:
    cli.main(prog_name="update-job")
