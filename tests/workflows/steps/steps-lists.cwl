#!/usr/bin/env cwl-runner
# steps.cwl in CWL v1.0's list form, with `#` ids and sources: the form some older
# workflows are written in.
cwlVersion: v1.0
class: Workflow
label: Split numbers, square each, count and total them, summarise (list form)
requirements:
  - class: ScatterFeatureRequirement
inputs:
  - id: "#numbers"
    type: int[]
  - id: "#summarise_exit"
    type: int
    default: 0
outputs:
  - id: "#summary"
    type: File
    outputSource: "#summarise/summary"
steps:
  - id: "#split"
    run: split.cwl
    in:
      - id: "#split/numbers"
        source: "#numbers"
    out: ["#split/parts"]
  - id: "#square"
    run: square.cwl
    scatter: "#square/part"
    in:
      - id: "#square/part"
        source: "#split/parts"
    out: ["#square/squared"]
  - id: "#count"
    run: reduce.cwl
    in:
      - id: "#count/parts"
        source: "#square/squared"
      - id: "#count/operation"
        default: count
    out: ["#count/result"]
  - id: "#total"
    run: reduce.cwl
    in:
      - id: "#total/parts"
        source: "#square/squared"
      - id: "#total/operation"
        default: total
    out: ["#total/result"]
  - id: "#summarise"
    run: summarise.cwl
    in:
      - id: "#summarise/count"
        source: "#count/result"
      - id: "#summarise/total"
        source: "#total/result"
      - id: "#summarise/exit_code"
        source: "#summarise_exit"
    out: ["#summarise/summary"]
