#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: summarise
label: "Stage 2: summarise granules"
doc: |
  The example workflow's second stage: summarises granules.csv into summary.json (count,
  total and mean of the values). Takes at most 100 granules: more fail with exit code 4.

  Given the exit code of the stage before it, it does no work when that is not 0 and exits
  with the same code, so a failed stage 1 never looks like a successful stage 2. Every exit
  status is a success code, and the status is the exit_code output.

requirements:
  InitialWorkDirRequirement:
    listing:
      - entryname: summarise.py
        entry: |
          import argparse
          import json
          import sys

          parser = argparse.ArgumentParser()
          parser.add_argument("--previous-exit-code", type=int, default=0)
          parser.add_argument("--granules")
          args = parser.parse_args()
          if args.previous_exit_code != 0:
              print(
                  f"summarise: skipped, an earlier stage failed "
                  f"(exit code {args.previous_exit_code})",
                  file=sys.stderr,
              )
              sys.exit(args.previous_exit_code)
          if args.granules is None:
              print("summarise: no granules given", file=sys.stderr)
              sys.exit(2)
          with open(args.granules, encoding="utf-8") as granules:
              values = [int(line.rsplit(",", 1)[1]) for line in granules if line.strip()]
          if len(values) > 100:
              print(f"summarise: {len(values)} granules, at most 100", file=sys.stderr)
              sys.exit(4)
          summary = {"count": len(values), "total": sum(values)}
          summary["mean"] = summary["total"] / len(values) if values else None
          with open("summary.json", "w", encoding="utf-8") as output:
              json.dump(summary, output)
          print(f"summarise: {summary}", file=sys.stderr)

hints:
  # Any image with python3 will do; this one is already there for the update steps.
  DockerRequirement:
    dockerPull: localhost/update-job:0.1.0

baseCommand: [python3, summarise.py]

inputs:
  granules:
    type: File?
    label: Granules
    doc: Stage 1's granules.csv (none when stage 1 failed).
    inputBinding:
      prefix: --granules
  previous_exit_code:
    type: int
    default: 0
    label: Exit code of the stage before
    doc: When not 0, this stage does nothing and exits with it.
    inputBinding:
      prefix: --previous-exit-code
  after:
    type: Any?
    label: After
    doc: Anything from an earlier step; not used, it only makes this stage wait for that step.

outputs:
  summary:
    type: File?
    label: Summary
    doc: summary.json; none when this stage failed or was skipped.
    outputBinding:
      glob: summary.json
  exit_code:
    type: int
    label: Exit code
    doc: The stage's exit status, or the earlier stage's when that one failed.
    outputBinding:
      outputEval: $(runtime.exitCode)

# Every exit status: a failure is reported through exit_code, not by stopping the workflow.
successCodes: {$import: every-exit-code.yml}
