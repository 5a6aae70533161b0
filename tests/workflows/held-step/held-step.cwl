#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
label: A step that holds its batch job, then one that writes a file
doc: |
  `hold` sleeps for `seconds`, long enough for a test to cancel its batch job while it
  runs; `finish` writes done.txt once `hold` is done.

inputs:
  seconds: int

outputs:
  done:
    type: File
    outputSource: finish/done

steps:
  hold:
    run:
      class: CommandLineTool
      baseCommand: sleep
      inputs:
        seconds:
          type: int
          inputBinding: {position: 1}
      stdout: held.txt
      outputs:
        held: stdout
    in:
      seconds: seconds
    out: [held]

  finish:
    run:
      class: CommandLineTool
      baseCommand: [echo, done]
      inputs:
        after: File
      stdout: done.txt
      outputs:
        done: stdout
    in:
      after: hold/held
    out: [done]
