#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
label: A File[] output, with secondaryFiles, wired to the end update
doc: |
  Written for the tests: an intermediate step's File[] output (each File with an index
  as its secondary file) is the end update's `outputs`, as it is.
inputs:
  job_id: string
  topic_arn: string
  endpoint_url: string
outputs:
  receipt:
    type: File
    outputSource: end/receipt
steps:
  make:
    run: make-products.cwl
    in: {}
    out: [products]
  end:
    run: ../../../cwl/update-job.cwl
    in:
      job_id: job_id
      exit_code: {default: 0}
      outputs: make/products
      topic_arn: topic_arn
      endpoint_url: endpoint_url
    out: [receipt]
