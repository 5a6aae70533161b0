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
successCodes: [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
  24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
  45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
  66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86,
  87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106,
  107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123,
  124, 125, 126, 127, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140,
  141, 142, 143, 144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157,
  158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174,
  175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
  192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208,
  209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223, 224, 225,
  226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 242,
  243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255
]
