#!/usr/bin/env cwl-runner
cwlVersion: v1.1
class: Workflow
label: A workflow of the shape of Unity SPS's sleep_job_wrapper.cwl
doc: |
  Written for the tests: the shape of Unity's sleep_job_wrapper.cwl (its inputs, steps and
  step inputs, cwlVersion v1.1), with publish-job-status-latest.cwl as the `run:` of its
  two publish steps. The end step passes inputs its tool does not declare
  (dependency_stdout, dependency_stderr) only to wait for the other steps, and sets
  update_results by a default.

requirements:
  ScatterFeatureRequirement: {}
  InlineJavascriptRequirement: {}
  StepInputExpressionRequirement: {}
  MultipleInputFeatureRequirement: {}

inputs:
  job_id: string
  update_status:
    type: string
    default: "unknown"
  jobs_data_sns_topic_arn:
    type: string
  sleep_time:
    type: int
    default: 1

outputs: []

steps:

  create_job:
    run: ../../../cwl/compat/publish-job-status-latest.cwl
    in:
      job_id: job_id
      update_status:
        valueFrom: "running"
      jobs_data_sns_topic_arn: jobs_data_sns_topic_arn
    out:
    - results
    - errors

  workflow:
    run: sleep.cwl
    in:
      sleep_time: sleep_time
    out:
    - stdout_file
    - stderr_file

  update_job:
    run: ../../../cwl/compat/publish-job-status-latest.cwl
    in:
      job_id: job_id
      update_results:
        default: true
      jobs_data_sns_topic_arn: jobs_data_sns_topic_arn
      dependency_stdout: [workflow/stdout_file, create_job/results]
      dependency_stderr: [workflow/stderr_file, create_job/errors]
    out:
    - results
    - errors
