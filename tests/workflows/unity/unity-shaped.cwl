#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
label: A workflow of Unity SPS's shape, publishing its job's status with the compat tool
doc: |
  Written for the tests: the shape of Unity's wrapper workflows, with
  publish-job-status.cwl as their `run:` for the two status steps.

    create_job    running, with the job's inputs
    science       a stand-in science step that makes a results File
    outputs_json  JavaScript: JSON.stringify of that File
    end_job       succeeded, with the File as the job's outputs

requirements:
  InlineJavascriptRequirement: {}
  StepInputExpressionRequirement: {}

inputs:
  job_id: string
  job_inputs:
    type: string
    default: "{}"
  jobs_data_sns_topic_arn: string
  granule_count:
    type: int
    default: 3

outputs:
  results:
    type: File
    outputSource: science/results
  end_job_results:
    type: File
    outputSource: end_job/results

steps:
  create_job:
    run: ../../../cwl/compat/publish-job-status.cwl
    in:
      job_id: job_id
      job_status:
        valueFrom: "running"
      job_inputs: job_inputs
      jobs_data_sns_topic_arn: jobs_data_sns_topic_arn
    out: [results, errors]

  science:
    run: science.cwl
    in:
      granule_count: granule_count
      after: create_job/results
    out: [results]

  outputs_json:
    run: stringify.cwl
    in:
      results: science/results
    out: [job_outputs]

  end_job:
    run: ../../../cwl/compat/publish-job-status.cwl
    in:
      job_id: job_id
      job_status:
        valueFrom: "succeeded"
      job_outputs: outputs_json/job_outputs
      jobs_data_sns_topic_arn: jobs_data_sns_topic_arn
    out: [results, errors]
