#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Count the words of a text file
baseCommand: [wc, -w]
inputs:
  text: File
stdin: $(inputs.text.path)
stdout: count.txt
outputs:
  count: stdout
