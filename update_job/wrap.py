"""`update-job wrap`: a CWL workflow or tool, run as the step between a start and an end update.

The wrapper is a packed CWL v1.2 document: `#main`, the wrapping workflow, and
`#update-job`, the Update Job tool copied in, so that it needs nothing but the original
(referred to by a relative path, so that it keeps up with the original's changes).

CWL runs a step once all its inputs are there, so the order comes from data: the original's
step takes the start update's receipt, and the end update's step one of the original's
outputs (a step's outputs are all there once it has finished), each as its `after` input.
An original without an `after` input runs inside a small workflow that has the receipt as
an input it does not use, so that no step has an input its process does not declare (which
runners warn about).

The original is read with cwl-utils (typed); the wrapper is written as plain data, the
readable map form of CWL, rather than built from cwl-utils' classes, whose `save()` writes
ids and references relative to a base URI that a packed document does not keep.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urljoin, urlparse
from urllib.request import url2pathname

from update_job.errors import InvalidUpdate

# update-job is installed from its checkout (no package index serves it): the command to
# run there.
MISSING_CWL_UTILS = (
    "update-job wrap needs cwl-utils, of the cwl extra: in update-job's checkout, "
    "pip install '.[cwl]' (or pipx install --force '.[cwl]')"
)
# cwl/update-job.cwl, shipped in the package (update_job/update-job.cwl links to it).
DEFAULT_TOOL = Path(__file__).resolve().parent / "update-job.cwl"
TOOL_ID = "update-job"
# cwl/exit-with.cwl, shipped likewise: fails the run after the end update has published
# `failed` (the update step itself succeeds, so that a runner may retry it safely).
EXIT_WITH_TOOL = Path(__file__).resolve().parent / "exit-with.cwl"
EXIT_WITH_ID, EXIT_STEP = "exit-with", "job_exit"
# What a copied tool leaves behind: its schema.org metadata (`s:`) and `$schemas`, which a
# runner fetches from the web to check that metadata; the tools' own files keep them.
METADATA_PREFIXES = ("$", "s:")
START_STEP, END_STEP = "job_started", "job_finished"
# The step input that makes the original wait for the start update: the original's own
# `after` input if it has one for the purpose (as the Update Job tool and the example's
# stages do).
AFTER = "after"
# The types of an `after` input that the start update's receipt (a File) can be given to.
RECEIPT_TYPES = frozenset({"Any", "File"})
# An original without one runs inside a workflow of this id (after its step's name) that
# takes the receipt as an input of this name (or, if the original has an input of that
# name, the name with `_` added until it has none): a step starts once all its inputs are
# there.
AFTER_START_SUFFIX = "_after_start"
AFTER_START = "update_job_started"
# ... and the end update waits for the original, if the tool has no `after` input for it.
AFTER_ORIGINAL = "update_job_after"
# An original that reports its own failure, as the example's stages do, has this output.
EXIT_CODE = "exit_code"
# --step-updates: the original workflow, copied with an update step after each of its
# steps, as the workflow of this id (after its step's name) ...
WITH_STEP_UPDATES_SUFFIX = "_with_step_updates"
# ... whose update steps are named this and the step's name (or with `_` added, until no
# step of the original has the name) ...
STEP_UPDATE_PREFIX = "update_job_after_"
# ... and run the Update Job tool copied as this, which succeeds whatever update-job exits
# with: a step update never makes the run fail.
BEST_EFFORT_TOOL_ID = "update-job-best-effort"
ANY_EXIT_CODE = list(range(256))
# The copy's output that is the last step update's receipt: the end update waits for it.
STEP_UPDATES_OUTPUT = "update_job_step_updates"

PRIMITIVE_TYPES = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "string", "File", "Directory", "Any"}
)
# What a wrapper's input or output keeps of the original's parameter: the binding fields
# belong to the original's command line, not to a workflow's parameters.
KEPT_FIELDS = ("label", "doc", "secondaryFiles", "format", "streamable")


class WrapperInput(NamedTuple):
    """An input the wrapper has for its update steps."""

    tool_input: str  # the Update Job tool's input it feeds
    type: Any  # None: the tool's (optional unless it has a default)
    doc: str
    # Whether an original's input of the same name and another type is an error (else the
    # update steps go without it).
    clash_is_error: bool


WRAPPER_INPUTS: dict[str, WrapperInput] = {
    "job_id": WrapperInput(
        "job_id", "string", "The job's id, as the processing server gave it.", True
    ),
    # The processing server passes the topic under this name; a dry run needs none.
    "jobs_data_sns_topic_arn": WrapperInput(
        "topic_arn",
        None,
        "The jobs database's SNS topic, as the processing server passes it (not needed for "
        "a dry run).",
        True,
    ),
    "labels": WrapperInput("labels", None, "Labels to find the job by.", True),
    "endpoint_url": WrapperInput(
        "endpoint_url", None, "SNS endpoint, e.g. a local one (default: AWS's).", False
    ),
    "aws_region": WrapperInput(
        "aws_region", None, "AWS region for the credentials (publishing uses the topic's).", False
    ),
    "user_id": WrapperInput("user_id", None, "Who runs the job.", False),
    "dry_run": WrapperInput(
        "dry_run", None, "Publish nothing; the receipts show what would have been.", False
    ),
}
TOOL_NEEDS = ("job_id", "status", "exit_code", "topic_arn")
DOC_WIDTH = 88


class CannotWrap(InvalidUpdate):
    """The workflow or the tool cannot be read, or not wrapped: nothing was written."""


@dataclass(frozen=True)
class Parameter:
    name: str
    fields: dict[str, Any]  # the wrapper's declaration of it, without the id


@dataclass(frozen=True)
class Original:
    """What the wrapper needs to know of the wrapped workflow or tool."""

    path: str  # relative to the wrapper, as written (any character a file name may have)
    fragment: str  # the process's id in a packed file, or ""
    kind: str  # Workflow, CommandLineTool, ExpressionTool
    label: str | None
    inputs: list[Parameter]
    outputs: list[Parameter]
    source: Path  # the original's file, absolute
    written: dict[str, Any]  # the original's document as written (plain data)

    @property
    def reference(self) -> str:
        """The path (and #id), for people."""
        return self.path + (f"#{self.fragment}" if self.fragment else "")

    @property
    def run(self) -> str:
        """The path (and #id) as the wrapper's `run:` names it: a URI reference, in which a
        file name's `%`, `?`, `#` or space would otherwise mean something else."""
        return quote(self.path) + (f"#{quote(self.fragment)}" if self.fragment else "")

    @property
    def file_name(self) -> str:
        return Path(self.path).name

    @property
    def waits_by_after(self) -> bool:
        """Whether the original has an optional `after` input that can take the start
        update's receipt, to wait for the start with."""
        return any(
            p.name == AFTER
            and optional(p.fields["type"]) == p.fields["type"]
            and takes_receipt(p.fields["type"])
            for p in self.inputs
        )

    @property
    def after_start(self) -> str:
        """The name of the receipt's input of the workflow around the original: none of
        the original's."""
        return free_name(AFTER_START, {p.name for p in self.inputs})

    @property
    def step_updates_output(self) -> str:
        """The name of the last step update's receipt among the outputs of the copy with
        step updates: none of the original's."""
        return free_name(STEP_UPDATES_OUTPUT, {p.name for p in self.outputs})

    @property
    def passed(self) -> list[Parameter]:
        """The inputs the wrapper has and passes on: all but the `after` it feeds itself."""
        return [p for p in self.inputs if not (self.waits_by_after and p.name == AFTER)]

    @property
    def reports_exit_code(self) -> bool:
        return any(p.name == EXIT_CODE and p.fields["type"] == "int" for p in self.outputs)


def takes_receipt(kind: Any) -> bool:
    members = kind if isinstance(kind, list) else [kind]
    return any(isinstance(member, str) and member in RECEIPT_TYPES for member in members)


def free_name(name: str, taken: set[str]) -> str:
    while name in taken:
        name = f"{name}_"
    return name


@dataclass(frozen=True)
class Tool:
    """The Update Job tool: as written, to copy, and its parameters as cwl-utils reads them."""

    document: dict[str, Any]
    inputs: dict[str, Parameter]
    outputs: list[str]


class Loaded(NamedTuple):
    """A CWL document read once: as written (plain data), and as cwl-utils parses it."""

    document: dict[str, Any]
    process: Any


class UpdateInputs(NamedTuple):
    """The wrapper's own inputs for the updates, and what the update steps take from the
    wrapper's inputs: the tool's input name -> the wrapper's (an original's input of the same
    name and type is shared)."""

    added: dict[str, Any]
    given: dict[str, str]


def wrap_workflow(
    source: str, output: Path | None = None, tool: Path | None = None, step_updates: bool = False
) -> str:
    """The wrapper for the CWL document `source` (a path, optionally `#id`), as YAML; also
    written to `output` when given; with `step_updates`, an update after each of a
    workflow's steps. CannotWrap, in one line, when it cannot be."""
    path, fragment = split_source(source)
    original_path = Path(path)
    if not original_path.is_file():
        raise CannotWrap(f"cannot read {path}: no such file")
    base = (output.parent if output is not None else Path.cwd()).resolve()
    if output is not None and output.resolve() == original_path.resolve():
        raise CannotWrap(f"-o {output} would overwrite the workflow it wraps")
    original = load_original(original_path, fragment)
    tool_path = tool or DEFAULT_TOOL
    if not tool_path.is_file():
        raise CannotWrap(
            f"cannot find the Update Job tool at {tool_path}: give --tool PATH/update-job.cwl"
        )
    update_tool = load_tool(tool_path)
    wrapper_name = output.name if output is not None else "wrapped.cwl"

    def wrapper_in(directory: Path) -> str:
        relative = replace(original, path=os.path.relpath(original_path.resolve(), directory))
        steps_from = directory if step_updates and original.kind == "Workflow" else None
        return dump(packed(relative, update_tool, wrapper_name, steps_from), relative)

    check_valid(wrapper_in, wrapper_name)
    text = wrapper_in(base)
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as error:
            raise CannotWrap(f"cannot write {output}: {error.strerror or error}") from None
    return text


def split_source(source: str) -> tuple[str, str]:
    """The path and the #id of WORKFLOW.cwl[#ID]: a file's name may hold a `#` too."""
    if "#" not in source or Path(source).is_file():
        return source, ""
    path, _, fragment = source.rpartition("#")
    return path, fragment


def check_valid(wrapper_in: Any, name: str) -> None:
    """CannotWrap unless the wrapper is valid CWL to cwltool, as `cwltool --validate` finds
    it: written, as `wrapper_in` makes it for a directory, to a temporary one (its `run:`
    the original's path from there) and loaded as a runner loads it."""
    try:
        from cwltool.context import LoadingContext
        from cwltool.load_tool import fetch_document, make_tool, resolve_and_validate_document
        from cwltool.workflow import default_make_tool
    except ImportError:
        raise CannotWrap(MISSING_CWL_UTILS) from None
    with tempfile.TemporaryDirectory(prefix="update-job-wrap-") as directory:
        path = Path(directory) / name
        path.write_text(wrapper_in(Path(directory)), encoding="utf-8")
        try:
            with runner_logs_silenced():
                context = LoadingContext(
                    {
                        "do_validate": True,
                        "skip_schemas": True,
                        "construct_tool_object": default_make_tool,
                    }
                )
                context, document, uri = fetch_document(str(path), context)
                context, uri = resolve_and_validate_document(context, document, uri)
                make_tool(uri, context)
        except Exception as error:  # schema-salad's and cwltool's errors alike
            raise CannotWrap(
                f"cannot wrap: the wrapper would not be valid CWL: {one_line(error)}"
            ) from None


@contextmanager
def runner_logs_silenced() -> Iterator[None]:
    """cwltool and schema-salad log to stderr as they load: wrap says only the one line."""
    loggers = [logging.getLogger(name) for name in ("cwltool", "salad")]
    before = [each.disabled for each in loggers]
    for each in loggers:
        each.disabled = True
    try:
        yield
    finally:
        for each, disabled in zip(loggers, before, strict=True):
            each.disabled = disabled


def one_line(error: BaseException) -> str:
    """The gist of a parser's error: a YAML error's first line, schema-salad's last one (its
    messages nest from the document down to the problem)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return lines[0] if "yaml" in type(error).__module__ else lines[-1]


def load_cwl(path: Path, fragment: str) -> Loaded:
    """The process in a CWL document, read once: as written, and as cwl-utils parses it."""
    try:
        from cwl_utils.parser import load_document_by_yaml
        from schema_salad.utils import yaml_no_ts
    except ImportError:
        raise CannotWrap(MISSING_CWL_UTILS) from None
    uri = path.resolve().as_uri()
    try:
        written = yaml_no_ts().load(path.read_text(encoding="utf-8"))
        # A plain copy to write out: cwl-utils annotates the one it parses.
        document = json.loads(json.dumps(written))
        process = load_document_by_yaml(written, uri, id_=fragment or None)
    except Exception as error:  # schema-salad, YAML and version errors alike
        raise CannotWrap(
            f"{path} is not a CWL document cwl-utils can read: {one_line(error)}"
        ) from None
    if isinstance(process, list):
        names = ", ".join(f"{path}#{shortname(each.id)}" for each in process)
        raise CannotWrap(f"{path} holds several processes: name one of {names}")
    if not isinstance(document, dict):
        raise CannotWrap(f"{path} is not a CWL document cwl-utils can read: not a mapping")
    return Loaded(document, process)


def shortname(uri: str) -> str:
    """A parameter's name from its full id: `file:///w.cwl#main/step/x` -> `x`."""
    from schema_salad.schema import shortname as salad_shortname

    return str(salad_shortname(uri))


def load_original(path: Path, fragment: str) -> Original:
    document, process = load_cwl(path, fragment)
    from cwl_utils.parser.utils import convert_stdstreams_to_files  # loaded: it is there

    kind = type(process).__name__
    if kind not in ("Workflow", "CommandLineTool", "ExpressionTool"):
        raise CannotWrap(f"{path} is a {kind}: only a Workflow or a tool can be run")
    # stdout and stderr outputs (and a stdin input) are Files to the wrapper.
    convert_stdstreams_to_files(process)
    inputs = [input_parameter(parameter) for parameter in process.inputs]
    outputs = [output_parameter(parameter) for parameter in process.outputs]
    if not outputs:
        raise CannotWrap(
            f"{path} has no outputs: the end update could not wait for it to finish "
            "(run it with `update-job run` instead)"
        )
    return Original(
        str(path), fragment, kind, process.label, inputs, outputs, path.resolve(), document
    )


def input_parameter(parameter: Any) -> Parameter:
    saved = without_nulls(parameter.save(relative_uris=False))
    fields = kept_fields(saved)
    workflow_type = clean_type(saved["type"])
    fields["type"] = workflow_type
    if "default" in saved:
        if holds_files(saved["default"]):
            # A null from the wrapper makes the original use its default (CWL applies one
            # to a missing or null value), its locations relative to where it was written.
            fields["type"] = optional(workflow_type)
        else:
            fields["default"] = saved["default"]
    return Parameter(shortname(parameter.id), fields)


def holds_files(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get("class") in ("File", "Directory") or any(map(holds_files, value.values()))
    if isinstance(value, list):
        return any(map(holds_files, value))
    return False


def output_parameter(parameter: Any) -> Parameter:
    saved = without_nulls(parameter.save(relative_uris=False))
    fields = kept_fields(saved)
    fields["type"] = clean_type(saved["type"])
    return Parameter(shortname(parameter.id), fields)


def kept_fields(saved: dict[str, Any]) -> dict[str, Any]:
    # An expression (format: $(inputs.x), ...) means something else in the wrapper.
    return {
        key: saved[key]
        for key in KEPT_FIELDS
        if key in saved and "$(" not in str(saved[key]) and "${" not in str(saved[key])
    }


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def clean_type(value: Any) -> Any:
    """A tool's parameter type as a workflow's: no command line bindings, schemas anonymous
    (their names are the original's), enum symbols short."""
    if isinstance(value, list):
        return [clean_type(item) for item in value]
    if isinstance(value, str):
        if value not in PRIMITIVE_TYPES:
            raise CannotWrap(
                f"cannot wrap a parameter of type {value}: types from a SchemaDefRequirement "
                "are not supported"
            )
        return value
    if not isinstance(value, dict):
        raise CannotWrap(f"cannot wrap a parameter of type {value!r}")
    cleaned: dict[str, Any] = {"type": value["type"]}
    if "items" in value:
        cleaned["items"] = clean_type(value["items"])
    if "symbols" in value:
        cleaned["symbols"] = [shortname(symbol) for symbol in value["symbols"]]
    if "fields" in value:
        cleaned["fields"] = [clean_field(field) for field in value["fields"]]
    return cleaned


def clean_field(field: dict[str, Any]) -> dict[str, Any]:
    """A record's field as clean_type makes a type: its name short, its type clean."""
    return {
        **{key: field[key] for key in ("label", "doc") if key in field},
        "name": shortname(field["name"]),
        "type": clean_type(field["type"]),
    }


def optional(value: Any) -> Any:
    if value == "null" or (isinstance(value, list) and "null" in value):
        return value
    return ["null", *(value if isinstance(value, list) else [value])]


def strip_optional(kind: Any) -> Any:
    if isinstance(kind, str):
        return kind.removesuffix("?")
    if isinstance(kind, list):
        rest = [item for item in kind if item != "null"]
        return rest[0] if len(rest) == 1 else rest
    return kind


def load_tool(path: Path) -> Tool:
    """The Update Job tool, read with cwl-utils and copied as written."""
    document, tool = load_cwl(path, "")
    if type(tool).__name__ != "CommandLineTool":
        raise CannotWrap(f"{path} is not the Update Job tool: not a CommandLineTool")
    inputs = {shortname(p.id): input_parameter(p) for p in tool.inputs}
    missing = [name for name in TOOL_NEEDS if name not in inputs]
    if missing:
        raise CannotWrap(f"{path} is not the Update Job tool: no input {', '.join(missing)}")
    if document.get("cwlVersion") != "v1.2":
        raise CannotWrap(f"{path}: the Update Job tool must be cwlVersion v1.2")
    return Tool(document, inputs, [shortname(p.id) for p in tool.outputs])


def step_name(path: str, taken: set[str]) -> str:
    stem = Path(path).stem
    name = re.sub(r"\W", "_", stem) or "wrapped"
    if not name[0].isalpha():
        name = f"run_{name}"
    return free_name(name, taken)


def update_inputs(original: Original, tool: Tool) -> UpdateInputs:
    """The wrapper's own inputs for the updates, and the inputs the update steps take from
    the wrapper: an input the original already has, of the same type, is shared."""
    theirs = {parameter.name: parameter for parameter in original.inputs}
    added: dict[str, Any] = {}
    given: dict[str, str] = {}
    for name, wanted in WRAPPER_INPUTS.items():
        if wanted.tool_input not in tool.inputs:
            continue
        if wanted.type is None:
            declaration = {**tool.inputs[wanted.tool_input].fields, "doc": wanted.doc}
            declaration.pop("label", None)
            if "default" not in declaration:
                declaration["type"] = optional(declaration["type"])
        else:
            declaration = {"type": wanted.type, "doc": wanted.doc}
        if name in theirs:
            if strip_optional(theirs[name].fields["type"]) == strip_optional(declaration["type"]):
                given[wanted.tool_input] = name
            elif wanted.clash_is_error:
                raise CannotWrap(
                    f"{original.reference} already has an input {name!r} of another type: "
                    "cannot add the jobs database's"
                )
            continue
        added[name] = declaration
        given[wanted.tool_input] = name
    return UpdateInputs(added, given)


def packed(
    original: Original, tool: Tool, wrapper_name: str, steps_from: Path | None = None
) -> dict[str, Any]:
    """The wrapper: `#main`, the workflow that runs the original after the start update if
    it needs one, and the tool, with the tool's namespaces (allowed only at the top of a
    document). With `steps_from` (the wrapper's directory), the original workflow is run
    as a copy with an update step after each of its steps."""
    document: dict[str, Any] = {"cwlVersion": "v1.2"}
    if "$namespaces" in tool.document:
        document["$namespaces"] = tool.document["$namespaces"]
    copy = {"class": "CommandLineTool", "id": TOOL_ID}
    copy.update(
        (key, value)
        for key, value in tool.document.items()
        if not key.startswith(METADATA_PREFIXES) and key not in ("class", "id", "cwlVersion")
    )
    step = step_name(original.path, {START_STEP, END_STEP, EXIT_STEP})
    with_updates = None
    if steps_from is not None:
        inputs = update_inputs(original, tool)
        with_updates = step_updates_workflow(original, tool, inputs, step, steps_from)
        namespaces = original.written.get("$namespaces")
        if isinstance(namespaces, dict):
            document["$namespaces"] = {**namespaces, **document.get("$namespaces", {})}
    graph = [main_workflow(original, tool, step, wrapper_name, with_updates)]
    if with_updates is not None:
        graph += [with_updates, best_effort_copy(copy)]
    elif not original.waits_by_after:
        graph.append(after_start_workflow(original, step))
    document["$graph"] = [*graph, copy]
    if original.reports_exit_code:
        document["$graph"].append(exit_with_copy())
    return document


def exit_with_copy() -> dict[str, Any]:
    from ruamel.yaml import YAML

    exit_with = YAML(typ="safe").load(EXIT_WITH_TOOL.read_text(encoding="utf-8"))
    copy: dict[str, Any] = {"class": "CommandLineTool", "id": EXIT_WITH_ID}
    copy.update(
        (key, value)
        for key, value in exit_with.items()
        if not key.startswith(METADATA_PREFIXES) and key not in ("class", "id", "cwlVersion")
    )
    return copy


def main_workflow(
    original: Original,
    tool: Tool,
    step: str,
    wrapper_name: str,
    with_updates: dict[str, Any] | None = None,
) -> dict[str, Any]:
    inputs = update_inputs(original, tool)
    name = original.label or original.reference
    main: dict[str, Any] = {
        "class": "Workflow",
        "id": "main",
        "label": f"{name}, with its job's status in the jobs database",
        "doc": wrapper_doc(original, wrapper_name),
    }
    if original.kind == "Workflow" or not original.waits_by_after:
        main["requirements"] = {"SubworkflowFeatureRequirement": {}}
    main["inputs"] = {**{p.name: p.fields for p in original.passed}, **inputs.added}
    main["outputs"] = {
        p.name: {**p.fields, "outputSource": f"{step}/{p.name}"} for p in original.outputs
    }
    main["steps"] = {
        START_STEP: start_step(original, tool, inputs),
        step: original_step(original, tool, step),
        END_STEP: end_step(original, tool, inputs, step),
    }
    if with_updates is not None:
        main["steps"][step] = with_updates_step(original, tool, inputs, with_updates)
        if original.step_updates_output in with_updates["outputs"]:
            # The end update waits for the last step update, which waits for the others.
            end_in = main["steps"][END_STEP]["in"]
            end_in[AFTER if AFTER in tool.inputs else AFTER_ORIGINAL] = (
                f"{step}/{original.step_updates_output}"
            )
    if original.reports_exit_code:
        main["steps"][EXIT_STEP] = exit_step(tool, step)
    return main


def start_step(original: Original, tool: Tool, inputs: UpdateInputs) -> dict[str, Any]:
    """`running`, with start-time, before the original starts."""
    step_in: dict[str, Any] = dict(inputs.given)
    step_in["status"] = {"default": "running"}
    if "start_time" in tool.inputs:
        step_in["start_time"] = {"default": "now"}
    if "message" in tool.inputs:
        step_in["message"] = {"default": f"starting {original.file_name}"}
    return {"run": f"#{TOOL_ID}", "in": step_in, "out": tool.outputs}


def original_step(original: Original, tool: Tool, step: str) -> dict[str, Any]:
    """The original, given the start update's receipt to wait for: as its own `after`
    input, or through the workflow around it."""
    step_in: dict[str, Any] = {p.name: p.name for p in original.passed}
    receipt = f"{START_STEP}/{tool.outputs[0]}"
    if original.waits_by_after:
        step_in[AFTER] = receipt
        run = original.run
    else:
        step_in[original.after_start] = receipt
        run = f"#{step}{AFTER_START_SUFFIX}"
    return {"run": run, "in": step_in, "out": [p.name for p in original.outputs]}


def with_updates_step(
    original: Original, tool: Tool, inputs: UpdateInputs, with_updates: dict[str, Any]
) -> dict[str, Any]:
    """The original's step, running its copy with step updates, given the updates' inputs
    and the start update's receipt (the copy starts once all its inputs are there)."""
    step_in: dict[str, Any] = {p.name: p.name for p in original.passed}
    step_in.update((name, name) for name in inputs.added)
    step_in[original.after_start] = f"{START_STEP}/{tool.outputs[0]}"
    out = [p.name for p in original.outputs]
    if original.step_updates_output in with_updates["outputs"]:
        out.append(original.step_updates_output)
    return {"run": f"#{with_updates['id']}", "in": step_in, "out": out}


def step_updates_workflow(
    original: Original, tool: Tool, inputs: UpdateInputs, step: str, directory: Path
) -> dict[str, Any]:
    """The original workflow as written, its steps' processes referred to from `directory`,
    with an update step after each of its steps: `running`, `STEP finished (K of N)` and
    `progress` K/N. The update steps run one after another, in an order where a step comes
    after those it takes inputs from: the K-th waits for its own step and for the update
    before it, so when it publishes, the K steps before it in that order have finished. So
    progress never goes back, whatever order parallel branches finish in (an update may
    come later than its step, waiting for the updates before it). The original's steps take
    nothing from the update steps: what they receive and produce is the same."""
    written = original.written
    if original.fragment or "$graph" in written:
        given = replace(original, path=str(original.source)).reference
        raise CannotWrap(
            f"--step-updates: {given} is a packed document: wrap the workflow it was packed from"
        )
    steps = as_map(written.get("steps"), "steps")
    workflow: dict[str, Any] = {"class": "Workflow", "id": f"{step}{WITH_STEP_UPDATES_SUFFIX}"}
    workflow.update(
        (key, value)
        for key, value in written.items()
        if not key.startswith(METADATA_PREFIXES)
        and ":" not in key
        and key not in ("class", "id", "cwlVersion", "steps")
    )
    workflow["requirements"] = with_requirement(
        written.get("requirements"), "MultipleInputFeatureRequirement"
    )
    workflow["inputs"] = {
        **as_map(written.get("inputs"), "inputs"),
        **inputs.added,
        original.after_start: {
            "type": "Any?",
            "doc": "The start update's receipt: the steps wait for it, and do not use it.",
        },
    }
    outputs = {
        name: relative_sources(body, "outputSource")
        for name, body in as_map(written.get("outputs"), "outputs").items()
    }
    copied = {name: rebased(body, original.source, directory) for name, body in steps.items()}
    updates = update_steps(copied, tool, inputs)
    if updates:
        last, _ = list(updates.values())[-1]
        outputs[original.step_updates_output] = {
            "type": "File?",
            "doc": "The last step update's receipt: the end update waits for it.",
            "outputSource": f"{last}/{tool.outputs[0]}",
        }
    workflow["outputs"] = outputs
    # Each update step right after its step: a runner that runs one step at a time, in the
    # order written where it has a choice (cwltool), runs it as soon as it can.
    workflow["steps"] = {}
    for name, body in copied.items():
        workflow["steps"][name] = body
        if name in updates:
            update, update_body = updates[name]
            workflow["steps"][update] = update_body
    return workflow


def update_steps(
    steps: dict[str, Any], tool: Tool, inputs: UpdateInputs
) -> dict[str, tuple[str, dict[str, Any]]]:
    """An update step (its name and body) after each step that has an output to wait for,
    by the step's name, chained in an order where each step comes after the steps it takes
    inputs from (the last one last)."""
    total = len(steps)
    updates: dict[str, tuple[str, dict[str, Any]]] = {}
    taken = set(steps)
    previous = None
    for count, name in enumerate(in_dependency_order(steps), start=1):
        out = steps[name].get("out") or []
        if not out:
            continue  # nothing to wait for: counted in the total, never told
        first = out[0]["id"] if isinstance(out[0], dict) else out[0]
        sources = [f"{name}/{str(first).rpartition('/')[2].lstrip('#')}"]
        if previous is not None:
            sources.append(f"{previous}/{tool.outputs[0]}")
        step_in: dict[str, Any] = dict(inputs.given)
        step_in.update(
            status={"default": "running"},
            message={"default": f"{name} finished ({count} of {total})"},
            progress={"default": 100 * count // total},
            best_effort={"default": True},
        )
        step_in[AFTER] = {"source": sources, "linkMerge": "merge_nested"}
        update = free_name(f"{STEP_UPDATE_PREFIX}{name}", taken)
        taken.add(update)
        body = {"run": f"#{BEST_EFFORT_TOOL_ID}", "in": step_in, "out": tool.outputs}
        updates[name] = (update, body)
        previous = update
    return updates


def in_dependency_order(steps: dict[str, Any]) -> list[str]:
    """The steps' names, each after the steps it takes inputs from (in their written order
    where that leaves a choice)."""
    needs = {name: step_sources(body) & set(steps) - {name} for name, body in steps.items()}
    ordered: list[str] = []
    while len(ordered) < len(steps):
        ready = [n for n in steps if n not in ordered and needs[n] <= set(ordered)]
        if not ready:
            raise CannotWrap("--step-updates: the workflow's steps depend on each other in a cycle")
        ordered.append(ready[0])
    return ordered


def step_sources(body: dict[str, Any]) -> set[str]:
    """The steps a step takes inputs from."""
    found: set[str] = set()
    for value in as_map(body.get("in"), "in").values():
        source = value.get("source") if isinstance(value, dict) else value
        for each in source if isinstance(source, list) else [source]:
            if isinstance(each, str) and "/" in each:
                found.add(each.lstrip("#").split("/")[-2])
    return found


def as_map(value: Any, field: str) -> dict[str, Any]:
    """A workflow's inputs, outputs, steps or a step's `in`, in the map form: `{id: body}`."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        mapped: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, dict) or "id" not in item:
                raise CannotWrap(f"--step-updates: an entry of {field} has no id")
            body = {key: item[key] for key in item if key != "id"}
            mapped[str(item["id"]).lstrip("#").rpartition("/")[2]] = body
        return mapped
    raise CannotWrap(f"--step-updates: {field} is neither a list nor a map")


def with_requirement(requirements: Any, name: str) -> Any:
    if requirements is None:
        return {name: {}}
    if isinstance(requirements, dict):
        return {**requirements, name: requirements.get(name, {})}
    if isinstance(requirements, list):
        present = any(isinstance(r, dict) and r.get("class") == name for r in requirements)
        return requirements if present else [*requirements, {"class": name}]
    raise CannotWrap("--step-updates: the workflow's requirements are neither a list nor a map")


def rebased(step: Any, source: Path, directory: Path) -> dict[str, Any]:
    """A step of the original, its `run:` (a reference relative to the original) made
    relative to `directory`, where the wrapper is."""
    if not isinstance(step, dict):
        raise CannotWrap("--step-updates: a step is not a map")
    body = dict(step)
    body["in"] = {
        name: relative_sources(value, "source")
        for name, value in as_map(body.get("in"), "in").items()
    }
    body["out"] = [
        short_id(each["id"] if isinstance(each, dict) else each) for each in body.get("out") or []
    ]
    if isinstance(body.get("scatter"), str | list):
        scatter = body["scatter"]
        body["scatter"] = (
            [short_id(x) for x in scatter] if isinstance(scatter, list) else short_id(scatter)
        )
    run = body.get("run")
    if isinstance(run, str):
        target = urlparse(urljoin(source.as_uri(), run))
        if target.scheme == "file":
            relative = os.path.relpath(url2pathname(unquote(target.path)), directory)
            body["run"] = quote(relative) + (f"#{target.fragment}" if target.fragment else "")
        else:
            body["run"] = target.geturl()
    return body


def short_id(value: Any) -> str:
    """A step's output or input as its short name (`#step/out` -> `out`)."""
    return str(value).lstrip("#").rpartition("/")[2]


def relative_sources(value: Any, field: str) -> Any:
    """A step input's or workflow output's sources relative to the workflow they are in
    (`#step/out` -> `step/out`, `#input` -> `input`): in the packed wrapper, a reference
    from the top of the document names no process of the copy."""
    if isinstance(value, str):
        return value.lstrip("#") if field == "source" else value
    if not isinstance(value, dict) or field not in value:
        return value
    sources = value[field]
    if isinstance(sources, list):
        cleaned: Any = [str(each).lstrip("#") for each in sources]
    else:
        cleaned = str(sources).lstrip("#")
    return {**value, field: cleaned}


def best_effort_copy(copy: dict[str, Any]) -> dict[str, Any]:
    """The Update Job tool as the step updates run it: successful whatever it exits with."""
    kept = {k: v for k, v in copy.items() if k not in ("temporaryFailCodes", "permanentFailCodes")}
    return {**kept, "id": BEST_EFFORT_TOOL_ID, "successCodes": ANY_EXIT_CODE}


def after_start_workflow(original: Original, step: str) -> dict[str, Any]:
    """The original, run once the start update's receipt is there: CWL starts a step when
    all of its inputs are, and this workflow has the receipt as one (and does not use it)."""
    workflow: dict[str, Any] = {
        "class": "Workflow",
        "id": f"{step}{AFTER_START_SUFFIX}",
        "label": f"{original.file_name}, once the start update is published",
    }
    if original.kind == "Workflow":
        workflow["requirements"] = {"SubworkflowFeatureRequirement": {}}
    workflow["inputs"] = {
        **{p.name: p.fields for p in original.passed},
        original.after_start: {
            "type": "Any?",
            "doc": "The start update's receipt: this waits for it, and does not use it.",
        },
    }
    workflow["outputs"] = {
        p.name: {**p.fields, "outputSource": f"{step}/{p.name}"} for p in original.outputs
    }
    workflow["steps"] = {
        step: {
            "run": original.run,
            "in": {p.name: p.name for p in original.passed},
            "out": [p.name for p in original.outputs],
        }
    }
    return workflow


def end_step(original: Original, tool: Tool, inputs: UpdateInputs, step: str) -> dict[str, Any]:
    """`succeeded` or `failed` once the original has finished (all its outputs are there
    when one is): from its exit code if it reports one."""
    # No message: update-job gives a final update its own ("succeeded", "failed with
    # exit code 3").
    step_in: dict[str, Any] = dict(inputs.given)
    step_in["exit_code"] = f"{step}/{EXIT_CODE}" if original.reports_exit_code else {"default": 0}
    step_in[AFTER if AFTER in tool.inputs else AFTER_ORIGINAL] = (
        f"{step}/{original.outputs[0].name}"
    )
    return {"run": f"#{TOOL_ID}", "in": step_in, "out": tool.outputs}


def exit_step(tool: Tool, step: str) -> dict[str, Any]:
    """After the end update, the run fails with the original's exit code: the end update
    step itself succeeds once published, so that a runner's retry cannot publish twice."""
    return {
        "run": f"#{EXIT_WITH_ID}",
        "in": {"exit_code": f"{step}/{EXIT_CODE}", "after": f"{END_STEP}/{tool.outputs[0]}"},
        "out": [],
    }


def wrapper_doc(original: Original, wrapper_name: str) -> str:
    name = original.file_name
    if original.reports_exit_code:
        ending = (
            f"`succeeded` or `failed` after it, from its `{EXIT_CODE}` output. Only a failure "
            f"that {name} reports as its `{EXIT_CODE}` can be reported from within CWL: if it "
            "fails outright, the workflow stops, the end step never runs and the job stays "
            "`running`."
        )
    else:
        ending = (
            "`succeeded` once it has finished. A failure cannot be reported from within "
            f"CWL: if {name} fails, the workflow stops, the end step never runs and the job "
            "stays `running`."
        )
    paragraphs = [
        f"Runs {name} between two Update Job steps for the job `job_id` on "
        f"`jobs_data_sns_topic_arn`: `running` (with start-time) before it starts, {ending} "
        "Its inputs and outputs are the original's.",
        "The end update carries no outputs: their final locations are not known inside the "
        "workflow (the runner moves them at the end). To report every failure, with its "
        "exit code, and the outputs of a success, run this workflow under `update-job run`:",
    ]
    command = (
        "update-job run --job-id JOB_ID --topic-arn TOPIC_ARN --outputs-from-stdout -- "
        f"cwltool {wrapper_name} job.yml"
    )
    footer = "Generated by `update-job wrap`: wrap the original again rather than edit this."
    text = [textwrap.fill(paragraph, DOC_WIDTH) for paragraph in paragraphs]
    return "\n\n".join([*text, f"  {command}", footer]) + "\n"


def dump(document: dict[str, Any], original: Original) -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import LiteralScalarString

    for process in document["$graph"]:
        if isinstance(process.get("doc"), str) and "\n" in process["doc"]:
            process["doc"] = LiteralScalarString(process["doc"])
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 100
    yaml.representer.ignore_aliases = lambda _: True
    stream = io.StringIO()
    stream.write("#!/usr/bin/env cwl-runner\n")
    stream.write(f"# Generated by `update-job wrap` from {original.run}: do not edit.\n")
    yaml.dump(document, stream)
    return stream.getvalue()
