#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: publish-job-status
label: Publish job status (Unity SPS interface)
doc: |
  A drop-in for Unity SPS's publish_job_status.cwl: the same inputs and outputs, running
  update-job. A Unity workflow switches to it by changing only its steps' `run:`.

  - `job_status`: submitted, running, succeeded or failed in any case, OGC's accepted and
    successful too, or a word of `extra_statuses`; anything else fails the step (exit 2),
    publishing nothing. A final status sets a final message, and progress 100 on success.
    A workflow step should not send submitted: the jobs database replaces the whole
    document for it (update-job warns in `errors`).
  - `job_inputs`: a JSON object of the job's inputs, kept as given.
  - `job_outputs`: a JSON object of the job's outputs (each File and Directory in it
    becomes its location URL; a File with secondaryFiles, an array of its URL and
    theirs), or a CWL File or Directory object or an array of them, as JSON.stringify
    makes of them (each becomes basename: location URL).
    The default "{}" of both adds nothing to the job's document (the consumer merges it).
    Both are JSON text, never a path: they reach update-job in files of the step's own
    (any size up to the update's 256 KiB), so a value such as "@/some/file" is refused
    as not JSON (exit 2, nothing published) and no file of the worker is read.
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
    # The workflow's strings, written as they are into files of the step's own: never on
    # the command line, never read as a path.
    listing:
      - entryname: publish-job-inputs.json
        entry: $(inputs.job_inputs)
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
  job_status:
    type: string
    label: Job status
    doc: The job's status, in any case (see the tool's doc for the words).
    inputBinding:
      prefix: --status
  job_inputs:
    type: string
    default: "{}"
    label: Job inputs
    doc: The job's inputs, a JSON object.
    inputBinding:
      prefix: --inputs
      valueFrom: "@publish-job-inputs.json"
  job_outputs:
    type: string
    default: "{}"
    label: Job outputs
    doc: |
      The job's outputs: a JSON object, or a CWL File or Directory object or an array of
      them (files become location URLs).
    inputBinding:
      prefix: --outputs
      valueFrom: "@publish-job-outputs.json"
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
  extra_statuses:
    type: string[]?
    label: Extra statuses
    doc: Status words this deployment adds to the four (e.g. dismissed).
    inputBinding:
      prefix: --extra-statuses
      itemSeparator: ","
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
