#!/usr/bin/env cwl-runner
# A workflow shaped like a third party's: File in, Files out, two command line steps,
# no JavaScript, no knowledge of the jobs database.
cwlVersion: v1.2
class: Workflow
label: Sort a text's lines and count its words
inputs:
  text:
    type: File
    doc: The text to sort and count.
  reverse:
    type: boolean
    default: false
  tags:
    type: string[]?
    doc: Unused; here so that wrapping keeps array and optional types.
outputs:
  sorted:
    type: File
    outputSource: sort_lines/sorted
  count:
    type: File
    outputSource: count_words/count
steps:
  sort_lines:
    run: sort-lines.cwl
    in:
      text: text
      reverse: reverse
    out: [sorted]
  count_words:
    run: count-words.cwl
    in:
      text: sort_lines/sorted
    out: [count]
