#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Count or total the numbers in files
hints:
  DockerRequirement:
    dockerPull: localhost/update-job:0.1.0
baseCommand: [python3, -c]
arguments:
  - |
    import sys
    numbers = [int(open(path).read()) for path in sys.argv[2:]]
    print(len(numbers) if sys.argv[1] == "count" else sum(numbers))
inputs:
  operation:
    type: string
    inputBinding: {position: 1}
  parts:
    type: File[]
    inputBinding: {position: 2}
stdout: result.txt
outputs:
  result: stdout
