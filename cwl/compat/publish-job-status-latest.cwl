#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: publish-job-status-latest
label: Publish job status or results (Unity SPS interface)
doc: |
  A drop-in for Unity SPS's publish_job_status_latest.cwl: the same inputs and outputs,
  running update-job. A Unity workflow switches to it by changing only its steps' `run:`.

  Give `update_status`, `update_results` or both; with neither the step fails (exit 2,
  "no status"), publishing nothing.
  - `update_status`: the job's status, submitted, running, succeeded or failed in any
    case, OGC's accepted and successful too; anything else fails the step (exit 2),
    publishing nothing. The default "" gives none. A workflow step should not send
    submitted: the jobs database replaces the whole document for it.
  - `update_results`: true marks the job finished: status succeeded (a failed step stops
    a CWL workflow before this one runs), exit code 0, progress 100, a final message and
    stop-time, with the job's results as its outputs when `job_outputs` gives them. With
    `update_status` too, that status is the one published.
  - `job_outputs` (optional, not in Unity's interface): the job's results, as the other
    compat tool's `job_outputs` takes them (JSON text, never a path).
  - `auth_method`: `iam` (the default) uses AWS's default credential chain (the worker's
    role, or AWS_* variables); `keys` takes Unity's variables ACCESS_KEY, SECRET_KEY and
    SESSION_TOKEN when set (else that chain). Credentials never come from inputs. The
    variables reach the step only if the runner passes them (cwltool
    --preserve-environment): in container mode cwltool puts each one on the container
    engine's command line, where `ps` shows it, and logs that line; use `iam` with real
    credentials (docs/runners.md).
  - `results`: update-job's JSON receipt (message id and message); `errors`: its log.

  Publishing uses the region in the topic ARN. An SNS endpoint other than AWS's comes from
  AWS_ENDPOINT_URL_SNS in the step's environment.

$namespaces:
  s: https://schema.org/
$schemas:
  - https://schema.org/version/latest/schemaorg-current-https.rdf
s:license: https://spdx.org/licenses/Apache-2.0
s:version: 0.1.0

requirements:
  NetworkAccess:
    networkAccess: true
  InitialWorkDirRequirement:
    # The workflow's string, written as it is into a file of the step's own: never on the
    # command line, never read as a path. Not given: no file, and no --outputs.
    listing:
      - entryname: publish-job-outputs.json
        entry: $(inputs.job_outputs)

hints:
  DockerRequirement:
    dockerPull: localhost/update-job:0.1.0

baseCommand: update-job
arguments:
  - --json

inputs:
  job_id:
    type: string
    label: Job id
    doc: The job's id, as the processing server (ADES) gave it.
    inputBinding:
      prefix: --job-id
  update_status:
    type: string
    default: ""
    label: Job status
    doc: The job's status, in any case; "" (the default) gives none.
    inputBinding:
      # An empty --status is none to update-job.
      prefix: --status
  update_results:
    type: boolean
    default: false
    label: Update results
    doc: True marks the job finished, succeeded, with `job_outputs` as its results.
    inputBinding:
      # A flag: true adds this one argument, which sets the status succeeded (unless
      # update_status gives one) and the final fields.
      prefix: --exit-code=0
  auth_method:
    type: string
    default: iam
    label: AWS authentication method
    doc: |
      iam (AWS's default credential chain) or keys (Unity's ACCESS_KEY, SECRET_KEY and
      SESSION_TOKEN variables when set, else that chain).
    inputBinding:
      prefix: --auth-method
  jobs_data_sns_topic_arn:
    type: string
    label: Jobs database SNS topic ARN
    doc: The jobs database's SNS topic, as the processing server passes it.
    inputBinding:
      prefix: --topic-arn
  job_outputs:
    type: string?
    label: Job outputs
    doc: |
      The job's results: a JSON object, or a CWL File or Directory object or an array of
      them as JSON.stringify makes of them (files become location URLs).
    inputBinding:
      prefix: --outputs
      valueFrom: "@publish-job-outputs.json"
  timeout:
    type: float?
    label: Delivery timeout
    doc: Give up delivering after this many seconds, retries included (default 30).
    inputBinding:
      prefix: --timeout
  best_effort:
    type: boolean?
    label: Best effort
    doc: |
      When the update cannot be delivered, warn and succeed anyway: a jobs-database outage
      does not stop the workflow (the loss is said in `errors`).
    inputBinding:
      prefix: --best-effort

outputs:
  results:
    type: stdout
    label: Receipt
    doc: update-job's JSON receipt.
  errors:
    type: stderr
    label: Log
    doc: update-job's log lines, and its error if it failed.

stdout: publish_job_status_stdout.txt
stderr: publish_job_status_stderr.txt
