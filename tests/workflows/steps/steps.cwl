#!/usr/bin/env cwl-runner
# Five steps: a scatter, then two branches that may run in parallel, then a step that joins
# them. The tests follow each step into the job's document. No JavaScript.
cwlVersion: v1.2
class: Workflow
label: Split numbers, square each, count and total them, summarise
requirements:
  ScatterFeatureRequirement: {}
inputs:
  numbers:
    type: int[]
    doc: The numbers, one part each.
  summarise_exit:
    type: int
    default: 0
    doc: The summarise step exits with this code (a failing run).
outputs:
  summary:
    type: File
    outputSource: summarise/summary
steps:
  split:
    run: split.cwl
    in:
      numbers: numbers
    out: [parts]
  square:
    run: square.cwl
    scatter: part
    in:
      part: split/parts
    out: [squared]
  count:
    run: reduce.cwl
    in:
      parts: square/squared
      operation: {default: count}
    out: [result]
  total:
    run: reduce.cwl
    in:
      parts: square/squared
      operation: {default: total}
    out: [result]
  summarise:
    run: summarise.cwl
    in:
      count: count/result
      total: total/result
      exit_code: summarise_exit
    out: [summary]
