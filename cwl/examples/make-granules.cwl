#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: make-granules
label: "Stage 1: make granules"
doc: |
  The example workflow's first stage: writes granule_count granules of a collection to
  granules.csv (one "granule id,value" line each). Fails with exit code 3 when there is
  nothing to process (granule_count below 1).

  Every exit status is a success code, and the status is the exit_code output: the
  workflow carries on to report the failure in its end update instead of stopping.

requirements:
  InitialWorkDirRequirement:
    listing:
      - entryname: make_granules.py
        entry: |
          import argparse
          import sys

          parser = argparse.ArgumentParser()
          parser.add_argument("--collection-id", required=True)
          parser.add_argument("--count", type=int, required=True)
          args = parser.parse_args()
          if args.count < 1:
              print(f"make-granules: no granules to process ({args.count})", file=sys.stderr)
              sys.exit(3)
          with open("granules.csv", "w", encoding="utf-8") as granules:
              for number in range(1, args.count + 1):
                  granules.write(f"{args.collection_id}.G{number:04d},{number * number}\n")
          print(f"make-granules: {args.count} granules of {args.collection_id}", file=sys.stderr)

hints:
  # Any image with python3 will do; this one is already there for the update steps.
  DockerRequirement:
    dockerPull: localhost/update-job:0.1.0

baseCommand: [python3, make_granules.py]

inputs:
  collection_id:
    type: string
    label: Collection id
    doc: The collection the granules belong to.
    inputBinding:
      prefix: --collection-id
  count:
    type: int
    label: Granule count
    doc: How many granules to make; below 1 is a failure (exit code 3).
    inputBinding:
      prefix: --count
  after:
    type: Any?
    label: After
    doc: Anything from an earlier step; not used, it only makes this stage wait for that step.

outputs:
  granules:
    type: File?
    label: Granules
    doc: granules.csv; none when the stage failed.
    outputBinding:
      glob: granules.csv
  exit_code:
    type: int
    label: Exit code
    doc: The stage's exit status (0 when it succeeded).
    outputBinding:
      outputEval: $(runtime.exitCode)

# Every exit status: a failure is reported through exit_code, not by stopping the workflow.
successCodes: {$import: every-exit-code.yml}
