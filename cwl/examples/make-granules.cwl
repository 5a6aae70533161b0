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
