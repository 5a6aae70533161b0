"""`update-job wrap`: a CWL workflow or tool, run as the step between a start and an end update.

The wrapper is a packed CWL v1.2 document: `#main`, the wrapping workflow, and
`#update-job`, the Update Job tool copied in, so that it needs nothing but the original
(referred to by a relative path, so that it keeps up with the original's changes).

CWL runs a step once all its inputs are there, so the order comes from data: the original's
step takes the start update's receipt, and the end update's step one of the original's
outputs (a step's outputs are all there once it has finished), each as its `after` input.
An original without an `after` input gets the receipt through a step input it does not
declare: CWL v1.2 allows that ("unconnected or unused parameters do not represent an error
condition") and passes it to nothing; cwltool's checker warns about it, no more.
"""

from __future__ import annotations

import io
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from update_job.errors import InvalidUpdate

MISSING_CWL_UTILS = "update-job wrap needs cwl-utils: pip install 'update-job[cwl]'"
# cwl/update-job.cwl, shipped in the package (update_job/update-job.cwl links to it).
DEFAULT_TOOL = Path(__file__).resolve().parent / "update-job.cwl"
TOOL_ID = "update-job"
# cwl/exit-with.cwl, shipped likewise: fails the run after the end update has published
# `failed` (the update step itself succeeds, so that a runner may retry it safely).
EXIT_WITH_TOOL = Path(__file__).resolve().parent / "exit-with.cwl"
EXIT_WITH_ID, EXIT_STEP = "exit-with", "job_exit"
START_STEP, END_STEP = "job_started", "job_finished"
# The step input that makes the original wait for the start update: the original's own
# `after` input if it has one for the purpose (as the Update Job tool and the example's
# stages do), else one it does not declare.
AFTER = "after"
AFTER_START = "update_job_started"
# ... and the end update wait for the original, if the tool has no `after` input for it.
AFTER_ORIGINAL = "update_job_after"
# An original that reports its own failure, as the example's stages do, has this output.
EXIT_CODE = "exit_code"

PRIMITIVE_TYPES = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "string", "File", "Directory", "Any"}
)
# What a wrapper's input or output keeps of the original's parameter: the binding fields
# belong to the original's command line, not to a workflow's parameters.
KEPT_FIELDS = ("label", "doc", "secondaryFiles", "format", "streamable")
# The tool's inputs the wrapper has as its own: the type (None: the tool's, optional unless
# it has a default), the doc, and whether an original's input of the same name and another
# type is an error (else the update steps go without it).
WRAPPER_INPUTS: dict[str, tuple[Any, str, bool]] = {
    "job_id": ("string", "The job's id, as the processing server gave it.", True),
    "topic_arn": ("string", "The jobs database's SNS topic.", True),
    "labels": (None, "Labels to find the job by.", True),
    "endpoint_url": (None, "SNS endpoint, e.g. a local one (default: AWS's).", False),
    "aws_region": (None, "AWS region for the credentials (publishing uses the topic's).", False),
    "user_id": (None, "Who runs the job.", False),
    "dry_run": (None, "Publish nothing; the receipts show what would have been.", False),
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

    reference: str  # path (and #id) as the wrapper's `run:` names it
    kind: str  # Workflow, CommandLineTool, ExpressionTool
    label: str | None
    inputs: list[Parameter]
    outputs: list[Parameter]


@dataclass(frozen=True)
class Tool:
    """The Update Job tool: as written, to copy, and its parameters as cwl-utils reads them."""

    document: dict[str, Any]
    inputs: dict[str, Parameter]
    outputs: list[str]


def wrap_workflow(source: str, output: Path | None = None, tool: Path | None = None) -> str:
    """The wrapper for the CWL document `source` (a path, optionally `#id`), as YAML; also
    written to `output` when given. CannotWrap, in one line, when it cannot be."""
    path, _, fragment = source.partition("#")
    original_path = Path(path)
    if not original_path.is_file():
        raise CannotWrap(f"cannot read {path}: no such file")
    base = (output.parent if output is not None else Path.cwd()).resolve()
    reference = os.path.relpath(original_path.resolve(), base) + (
        f"#{fragment}" if fragment else ""
    )
    if output is not None and output.resolve() == original_path.resolve():
        raise CannotWrap(f"-o {output} would overwrite the workflow it wraps")
    original = load_original(original_path, fragment, reference)
    tool_path = tool or DEFAULT_TOOL
    if not tool_path.is_file():
        raise CannotWrap(
            f"cannot find the Update Job tool at {tool_path}: give --tool PATH/update-job.cwl"
        )
    update_tool = load_tool(tool_path)
    wrapper_name = output.name if output is not None else "wrapped.cwl"
    text = dump(packed(original, update_tool, wrapper_name), original)
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as error:
            raise CannotWrap(f"cannot write {output}: {error.strerror or error}") from None
    return text


def one_line(error: BaseException) -> str:
    """The gist of a parser's error: a YAML error's first line, schema-salad's last one (its
    messages nest from the document down to the problem)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return lines[0] if "yaml" in type(error).__module__ else lines[-1]


def load_cwl(path: Path, fragment: str) -> Any:
    """The process in a CWL document, as cwl-utils parses it."""
    try:
        from cwl_utils.parser import load_document_by_uri
    except ImportError:
        raise CannotWrap(MISSING_CWL_UTILS) from None
    uri = path.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    try:
        document = load_document_by_uri(uri)
    except Exception as error:  # schema-salad, YAML and version errors alike
        raise CannotWrap(
            f"{path} is not a CWL document cwl-utils can read: {one_line(error)}"
        ) from None
    if isinstance(document, list):
        names = ", ".join(f"{path}#{short_name(process.id)}" for process in document)
        raise CannotWrap(f"{path} holds several processes: name one of {names}")
    return document


def short_name(uri: str) -> str:
    """A parameter's name from its full id: `file:///w.cwl#main/step/x` -> `x`."""
    return uri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def load_original(path: Path, fragment: str, reference: str) -> Original:
    process = load_cwl(path, fragment)
    kind = type(process).__name__
    if kind not in ("Workflow", "CommandLineTool", "ExpressionTool"):
        raise CannotWrap(f"{path} is a {kind}: only a Workflow or a tool can be run")
    inputs = [input_parameter(parameter) for parameter in process.inputs]
    outputs = [output_parameter(parameter) for parameter in process.outputs]
    if not outputs:
        raise CannotWrap(
            f"{path} has no outputs: the end update could not wait for it to finish "
            "(run it with `update-job run` instead)"
        )
    return Original(reference, kind, process.label, inputs, outputs)


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
    return Parameter(short_name(parameter.id), fields)


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
    return Parameter(short_name(parameter.id), fields)


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
    """A tool's parameter type as a workflow's: no command line bindings, stdout/stderr as
    File, schemas anonymous (their names are the original's), enum symbols short."""
    if isinstance(value, list):
        return [clean_type(item) for item in value]
    if isinstance(value, str):
        if value in ("stdout", "stderr"):
            return "File"
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
        cleaned["symbols"] = [short_name(symbol) for symbol in value["symbols"]]
    if "fields" in value:
        cleaned["fields"] = [
            {
                **{key: field[key] for key in ("label", "doc") if key in field},
                "name": short_name(field["name"]),
                "type": clean_type(field["type"]),
            }
            for field in value["fields"]
        ]
    return cleaned


def optional(value: Any) -> Any:
    if value == "null" or (isinstance(value, list) and "null" in value):
        return value
    return ["null", *(value if isinstance(value, list) else [value])]


def load_tool(path: Path) -> Tool:
    """The Update Job tool, read with cwl-utils and copied as written."""
    from ruamel.yaml import YAML

    tool = load_cwl(path, "")
    if type(tool).__name__ != "CommandLineTool":
        raise CannotWrap(f"{path} is not the Update Job tool: not a CommandLineTool")
    inputs = {short_name(p.id): input_parameter(p) for p in tool.inputs}
    missing = [name for name in TOOL_NEEDS if name not in inputs]
    if missing:
        raise CannotWrap(f"{path} is not the Update Job tool: no input {', '.join(missing)}")
    document: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    if document.get("cwlVersion") != "v1.2":
        raise CannotWrap(f"{path}: the Update Job tool must be cwlVersion v1.2")
    return Tool(document, inputs, [short_name(p.id) for p in tool.outputs])


def step_name(reference: str, taken: set[str]) -> str:
    stem = Path(reference.partition("#")[0]).stem
    name = re.sub(r"\W", "_", stem) or "wrapped"
    if not name[0].isalpha():
        name = f"run_{name}"
    while name in taken:
        name = f"{name}_"
    return name


def update_inputs(original: Original, tool: Tool) -> tuple[dict[str, Any], list[str]]:
    """The wrapper's own inputs for the updates, and the names of all the inputs it gives
    the update steps: an input the original already has, of the same type, is shared."""
    theirs = {parameter.name: parameter for parameter in original.inputs}
    added: dict[str, Any] = {}
    given: list[str] = []
    for name, (kind, doc, clash_is_error) in WRAPPER_INPUTS.items():
        if name not in tool.inputs:
            continue
        if kind is None:
            declaration = {**tool.inputs[name].fields, "doc": doc}
            declaration.pop("label", None)
            if "default" not in declaration:
                declaration["type"] = optional(declaration["type"])
        else:
            declaration = {"type": kind, "doc": doc}
        if name in theirs:
            if strip_optional(theirs[name].fields["type"]) == strip_optional(declaration["type"]):
                given.append(name)
            elif clash_is_error:
                raise CannotWrap(
                    f"{original.reference} already has an input {name!r} of another type: "
                    "cannot add the jobs database's"
                )
            continue
        added[name] = declaration
        given.append(name)
    return added, given


def strip_optional(kind: Any) -> Any:
    if isinstance(kind, str):
        return kind.removesuffix("?")
    if isinstance(kind, list):
        rest = [item for item in kind if item != "null"]
        return rest[0] if len(rest) == 1 else rest
    return kind


def packed(original: Original, tool: Tool, wrapper_name: str) -> dict[str, Any]:
    """The wrapper: `#main` and the tool, with the tool's namespaces (allowed only at the
    top of a document)."""
    document: dict[str, Any] = {"cwlVersion": "v1.2"}
    for key in ("$namespaces", "$schemas"):
        if key in tool.document:
            document[key] = tool.document[key]
    copy = {"class": "CommandLineTool", "id": TOOL_ID}
    copy.update(
        (key, value)
        for key, value in tool.document.items()
        if not key.startswith("$") and key not in ("class", "id", "cwlVersion")
    )
    document["$graph"] = [main_workflow(original, tool, wrapper_name), copy]
    if reports_exit_code(original):
        document["$graph"].append(exit_with_copy())
    return document


def exit_with_copy() -> dict[str, Any]:
    from ruamel.yaml import YAML

    exit_with = YAML(typ="safe").load(EXIT_WITH_TOOL.read_text(encoding="utf-8"))
    copy: dict[str, Any] = {"class": "CommandLineTool", "id": EXIT_WITH_ID}
    copy.update(
        (key, value)
        for key, value in exit_with.items()
        if not key.startswith(("$", "s:")) and key not in ("class", "id", "cwlVersion")
    )
    return copy


def main_workflow(original: Original, tool: Tool, wrapper_name: str) -> dict[str, Any]:
    added, given = update_inputs(original, tool)
    name = original.label or original.reference
    file_name = Path(original.reference.partition("#")[0]).name
    step = step_name(original.reference, {START_STEP, END_STEP, EXIT_STEP})
    receipt = f"{START_STEP}/{tool.outputs[0]}"
    start_in: dict[str, Any] = {input_name: input_name for input_name in given}
    end_in = dict(start_in)
    start_in["status"] = {"default": "running"}
    if "start_time" in tool.inputs:
        start_in["start_time"] = {"default": "now"}
    if "message" in tool.inputs:
        start_in["message"] = {"default": f"starting {file_name}"}
        end_in["message"] = {"default": f"{file_name} finished"}
    end_in["exit_code"] = f"{step}/{EXIT_CODE}" if reports_exit_code(original) else {"default": 0}
    end_in[AFTER if AFTER in tool.inputs else AFTER_ORIGINAL] = f"{step}/{original.outputs[0].name}"
    waits_by_after = any(
        p.name == AFTER and optional(p.fields["type"]) == p.fields["type"] for p in original.inputs
    )
    passed = [p for p in original.inputs if not (waits_by_after and p.name == AFTER)]
    original_in: dict[str, Any] = {p.name: p.name for p in passed}
    original_in[AFTER if waits_by_after else AFTER_START] = receipt
    main: dict[str, Any] = {
        "class": "Workflow",
        "id": "main",
        "label": f"{name}, with its job's status in the jobs database",
        "doc": wrapper_doc(original, wrapper_name),
    }
    if original.kind == "Workflow":
        main["requirements"] = {"SubworkflowFeatureRequirement": {}}
    main["inputs"] = {**{p.name: p.fields for p in passed}, **added}
    main["outputs"] = {
        p.name: {**p.fields, "outputSource": f"{step}/{p.name}"} for p in original.outputs
    }
    main["steps"] = {
        START_STEP: {"run": f"#{TOOL_ID}", "in": start_in, "out": tool.outputs},
        step: {
            "run": original.reference,
            "in": original_in,
            "out": [p.name for p in original.outputs],
        },
        END_STEP: {"run": f"#{TOOL_ID}", "in": end_in, "out": tool.outputs},
    }
    if reports_exit_code(original):
        # After the end update, the run fails with the original's exit code.
        main["steps"][EXIT_STEP] = {
            "run": f"#{EXIT_WITH_ID}",
            "in": {"exit_code": f"{step}/{EXIT_CODE}", "after": f"{END_STEP}/{tool.outputs[0]}"},
            "out": [],
        }
    return main


def reports_exit_code(original: Original) -> bool:
    return any(p.name == EXIT_CODE and p.fields["type"] == "int" for p in original.outputs)


def wrapper_doc(original: Original, wrapper_name: str) -> str:
    name = Path(original.reference.partition("#")[0]).name
    if reports_exit_code(original):
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
        f"Runs {name} between two Update Job steps for the job `job_id` on `topic_arn`: "
        f"`running` (with start-time) before it starts, {ending} Its inputs and outputs "
        "are the original's.",
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
    stream.write(f"# Generated by `update-job wrap` from {original.reference}: do not edit.\n")
    yaml.dump(document, stream)
    return stream.getvalue()
