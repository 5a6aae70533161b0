#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Count and total in one line; exits with exit_code
hints:
  DockerRequirement:
    dockerPull: localhost/update-job:0.1.0
baseCommand: [python3, -c]
arguments:
  - |
    import sys
    count, total = (open(path).read().strip() for path in sys.argv[2:4])
    print(f"count {count} total {total}")
    sys.exit(int(sys.argv[1]))
inputs:
  exit_code:
    type: int
    inputBinding: {position: 1}
  count:
    type: File
    inputBinding: {position: 2}
  total:
    type: File
    inputBinding: {position: 3}
stdout: summary.txt
outputs:
  summary: stdout
