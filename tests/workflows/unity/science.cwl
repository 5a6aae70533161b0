#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: A stand-in science step
doc: Writes a line of results; `after` only makes it wait for the start update.
baseCommand: echo
inputs:
  granule_count:
    type: int
    inputBinding:
      prefix: "granules made:"
  after: File
outputs:
  results: stdout
stdout: results.txt
