#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: One file per number
hints:
  DockerRequirement:
    dockerPull: localhost/update-job:0.1.0
baseCommand: [python3, -c]
arguments:
  - |
    import sys
    for index, number in enumerate(sys.argv[1:]):
        with open(f"part-{index:04d}.txt", "w") as part:
            part.write(number)
inputs:
  numbers:
    type: int[]
    inputBinding: {position: 1}
outputs:
  parts:
    type: File[]
    outputBinding: {glob: "part-*.txt"}
