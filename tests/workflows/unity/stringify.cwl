#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: ExpressionTool
label: A File as the JSON string the end update's job_outputs takes
requirements:
  InlineJavascriptRequirement: {}
inputs:
  results: File
outputs:
  job_outputs: string
expression: '${ return {"job_outputs": JSON.stringify(inputs.results)}; }'
