#!/usr/bin/env cwl-runner
cwlVersion: v1.0
class: CommandLineTool
label: A stand-in for Unity's sleep.cwl
doc: Sleeps; its stdout and stderr are the files the wrapper's end step waits for.
baseCommand: [sleep]
inputs:
  sleep_time:
    type: int
    default: 1
    inputBinding:
      position: 1
outputs:
  stdout_file:
    type: stdout
  stderr_file:
    type: stderr
stdout: sleep_stdout.txt
stderr: sleep_stderr.txt
