#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
id: granule-summary
label: Granule summary, with job updates at start, middle and end
doc: |
  An example of a workflow that keeps its job's document in the jobs database current:
  two stages (make granules, then summarise them) between Update Job steps.

    start   running, start-time now, the job's inputs and labels
    stage 1 make granules
    middle  running, "stage 1 of 2 done", progress 50
    stage 2 summarise the granules
    end     succeeded with the stages' outputs, or failed with the exit code
    exit    exits with the exit code, so a failed job fails the run too

  The order comes from data dependencies alone. A stage reports its exit code instead of
  stopping the workflow, so the end update always runs and tells the truth. The update
  steps succeed once published (a runner may retry them); only `exit` fails, and it
  publishes nothing. The updates are best effort: when the jobs database cannot be
  reached, an update step warns and the science goes on; the end update's receipt (an
  output of the run) then has no message id. See docs/cwl.md.

$namespaces:
  s: https://schema.org/
$schemas:
  - https://schema.org/version/latest/schemaorg-current-https.rdf
s:license: https://spdx.org/licenses/Apache-2.0
s:version: 0.1.0

requirements:
  StepInputExpressionRequirement: {}

inputs:
  job_id:
    type: string
    label: Job id
    doc: The job's id; the ADES passes it.
  jobs_data_sns_topic_arn:
    type: string?
    label: Jobs database SNS topic ARN
    doc: The jobs database's topic; the ADES passes it under this name. Not needed for a dry run.
  labels:
    type: string[]
    default: []
    label: Labels
    doc: The job's labels, as in the job request.
  user_id:
    type: string?
    label: User id
    doc: Who runs the job.
  parameters:
    label: Science parameters
    doc: |
      The science inputs, as one record: the start update reports it as the job's inputs.
    type:
      type: record
      name: GranuleParameters
      fields:
        collection_id:
          type: string
          doc: The collection to make granules of.
        granule_count:
          type: int
          doc: How many granules (stage 1 fails with 3 below 1, stage 2 with 4 over 100).
  endpoint_url:
    type: string?
    label: SNS endpoint URL
    doc: A local or VPC SNS endpoint; AWS's by default.
  update_timeout:
    type: float?
    label: Update timeout
    doc: |
      How long each update step tries to deliver, in seconds (update-job's default, 30,
      if not given), before it warns and lets the workflow go on.
  aws_region:
    type: string
    default: us-west-2
    label: AWS region
    doc: AWS_DEFAULT_REGION of the update steps (the topic ARN's region is used to publish).
  dry_run:
    type: boolean
    default: false
    label: Dry run
    doc: Print the updates instead of publishing them.

outputs:
  granules:
    type: File?
    label: Granules
    outputSource: stage_1/granules
  summary:
    type: File?
    label: Summary
    outputSource: stage_2/summary
  end_update:
    type: File
    label: End update receipt
    doc: |
      The end update's receipt: its message id, or null when the update could not be
      delivered (the end step's warning says so), and the message.
    outputSource: end/receipt

steps:
  start:
    label: "Update: running, start-time, inputs, labels"
    run: ../update-job.cwl
    in:
      job_id: job_id
      status: {default: running}
      start_time: {default: now}
      inputs: parameters
      labels: labels
      user_id: user_id
      topic_arn: jobs_data_sns_topic_arn
      endpoint_url: endpoint_url
      timeout: update_timeout
      best_effort: {default: true}
      aws_region: aws_region
      dry_run: dry_run
    out: [receipt]

  stage_1:
    label: "Stage 1: make granules"
    run: make-granules.cwl
    in:
      collection_id:
        source: parameters
        valueFrom: $(self.collection_id)
      count:
        source: parameters
        valueFrom: $(self.granule_count)
      # Only makes this stage wait for the start update.
      after: start/receipt
    out: [granules, exit_code]

  middle:
    label: "Update: stage 1 of 2 done, progress 50"
    run: ../update-job.cwl
    in:
      job_id: job_id
      status: {default: running}
      progress: {default: 50}
      message:
        source: stage_1/exit_code
        valueFrom: stage 1 of 2 done, exit code $(self)
      topic_arn: jobs_data_sns_topic_arn
      endpoint_url: endpoint_url
      timeout: update_timeout
      best_effort: {default: true}
      aws_region: aws_region
      dry_run: dry_run
    out: [receipt]

  stage_2:
    label: "Stage 2: summarise"
    run: summarise.cwl
    in:
      granules: stage_1/granules
      previous_exit_code: stage_1/exit_code
      after: middle/receipt
    out: [summary, exit_code]

  end:
    label: "Update: succeeded or failed, outputs, exit code"
    run: ../update-job.cwl
    in:
      job_id: job_id
      exit_code: stage_2/exit_code
      granules: stage_1/granules
      summary: stage_2/summary
      # Files (and numbers, lists, records) become JSON when interpolated; null is null.
      outputs:
        valueFrom: '{"granules": $(inputs.granules), "summary": $(inputs.summary)}'
      topic_arn: jobs_data_sns_topic_arn
      endpoint_url: endpoint_url
      timeout: update_timeout
      best_effort: {default: true}
      aws_region: aws_region
      dry_run: dry_run
    out: [receipt]

  exit:
    label: "Exit with the job's exit code (publishes nothing)"
    run: ../exit-with.cwl
    in:
      exit_code: stage_2/exit_code
      after: end/receipt
    out: []
