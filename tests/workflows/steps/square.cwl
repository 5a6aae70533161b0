#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: The square of the number in a file
hints:
  DockerRequirement:
    dockerPull: localhost/update-job:0.1.0
baseCommand: [python3, -c]
arguments:
  - |
    import sys
    number = int(open(sys.argv[1]).read())
    print(number * number)
inputs:
  part:
    type: File
    inputBinding: {position: 1}
stdout: squared.txt
outputs:
  squared: stdout
