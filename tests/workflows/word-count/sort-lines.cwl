#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Sort the lines of a text file
baseCommand: sort
inputs:
  text:
    type: File
    inputBinding: {position: 2}
  reverse:
    type: boolean
    default: false
    inputBinding: {position: 1, prefix: -r}
stdout: sorted.txt
outputs:
  sorted: stdout
