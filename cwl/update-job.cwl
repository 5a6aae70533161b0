#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: update-job
label: Update Job
doc: |
  Publish one status update of a job to the jobs database's SNS topic: the "Update Job"
  step a workflow runs at its start, between its steps and at its end. The `receipt`
  output (update-job's JSON receipt) orders later steps after this one. The step succeeds
  once it has published, whatever `exit_code` says, so a runner may retry it safely: fail
  the run with a separate step (exit-with.cwl). Credentials come from the worker's AWS
  chain, never from inputs. The values of `inputs`, `outputs` and `message` reach
  update-job in files of the step's own: any size up to the update's 256 KiB, and never
  read as a path. See docs/cwl.md and docs/runners.md.

$namespaces:
  s: https://schema.org/
  iana: https://www.iana.org/assignments/media-types/
$schemas:
  - https://schema.org/version/latest/schemaorg-current-https.rdf

s:author:
  - class: s:Organization
    s:name: update-job developers
s:license: https://spdx.org/licenses/Apache-2.0
s:version: 0.1.0
s:keywords: [jobs database, job status, SNS, Unity SPS]

requirements:
  NetworkAccess:
    networkAccess: true
  EnvVarRequirement:
    envDef:
      AWS_DEFAULT_REGION: $(inputs.aws_region)
  InitialWorkDirRequirement:
    # Every value a workflow gives for inputs, outputs and message goes to update-job in a
    # file of the step's own, named here: never on the command line (where a value over
    # 128 KiB does not fit) and never as a path (no string can make update-job read a file).
    listing:
      # An object is written as JSON, a string as it is, a File under this name; null
      # (not given) writes nothing, and the option below is then left out too.
      - entryname: update-job-inputs.json
        entry: $(inputs.inputs)
      # Interpolated into text: a string as it is, anything else (an object, a File, an
      # array of Files) as JSON. A single File arrives with its contents (loadContents).
      - entryname: update-job-outputs.json
        entry: "$(inputs.outputs)\n"
      - entryname: update-job-message.txt
        entry: $(inputs.message)

hints:
  # The image the project's Dockerfile builds (`docker build -t localhost/update-job:0.1.0 .`).
  # From a registry: push it there and name it here, or use cwltool --overrides
  # (docs/container.md). The tag is the package version.
  DockerRequirement:
    dockerPull: localhost/update-job:0.1.0
  SoftwareRequirement:
    packages:
      update-job:
        version: ["0.1.0"]

baseCommand: update-job
arguments:
  - --json
  # A step that has published succeeds, so a retry cannot publish the update again.
  - --exit-zero

inputs:
  job_id:
    type: string
    label: Job id
    doc: The job's id, as the processing server (ADES) gave it.
    inputBinding:
      prefix: --job-id
  status:
    type:
      - "null"
      - type: enum
        name: JobStatus
        symbols: [submitted, running, succeeded, failed]
      # Any case, OGC's aliases, or a word of `extra_statuses`: update-job checks it.
      - string
    label: Status
    doc: |
      The job's status. Leave it out on the end update and give `exit_code` instead:
      the status is then succeeded for 0, failed otherwise.
    inputBinding:
      prefix: --status
  extra_statuses:
    type: string[]?
    label: Extra statuses
    doc: |
      Status words this deployment adds to the four (e.g. dismissed), published
      lowercase; any other status is refused.
    inputBinding:
      prefix: --extra-statuses
      itemSeparator: ","
  exit_code:
    type: int?
    label: Exit code
    doc: |
      The workflow's exit code, on the end update: sets the status when `status` is not
      given (succeeded for 0, failed otherwise) and goes in the message. The step still
      succeeds once published: an exit-with.cwl step after it fails the run.
    inputBinding:
      prefix: --exit-code
  labels:
    type:
      type: array
      items: string
      inputBinding:
        prefix: --label
    default: []
    label: Labels
    doc: |
      Labels to find the job by; none is the same as empty and leaves the stored labels
      alone. Given, they replace ALL the labels stored for the job (the jobs database
      replaces arrays): leave this out on updates of a job the processing server
      submitted with its labels, or give every label the job should keep.
    inputBinding: {}
  inputs:
    type: Any?
    label: Job inputs
    doc: |
      The job's inputs: an object (written as JSON), a string holding a JSON object, or a
      File holding one.
    inputBinding:
      prefix: --inputs
      valueFrom: "@update-job-inputs.json"
  outputs:
    type: Any?
    label: Job outputs
    doc: |
      The job's outputs: an object (each File and Directory in it becomes its location
      URL; a File with secondaryFiles, an array of its URL and theirs), an array of Files
      or Directories (each becomes basename: URL), a string holding JSON of either, or a
      File holding a CWL output object (cwl.output.json, at most 64 KiB: the runner
      loads it). Locations in a temporary directory (an intermediate step's file:///tmp/...)
      are published with a warning: give the locations the outputs are staged out to.
    loadContents: true
    inputBinding:
      prefix: --outputs
      valueFrom: "@update-job-outputs.json"
  message:
    type: string?
    label: Message
    doc: A note on the job's state, for people, e.g. "stage 1 of 2 done".
    inputBinding:
      prefix: --message-file
      valueFrom: update-job-message.txt
  progress:
    type: ["null", int, float]
    label: Progress
    doc: Percent done, 0 to 100.
    inputBinding:
      prefix: --progress
  user_id:
    type: string?
    label: User id
    doc: Who runs the job.
    inputBinding:
      prefix: --user-id
  start_time:
    type: string?
    label: Start time
    doc: The job's start-time, `now` or an ISO 8601 time (no zone means UTC).
    inputBinding:
      prefix: --start-time
  topic_arn:
    type: string?
    label: Jobs database SNS topic ARN
    doc: |
      The jobs database's SNS topic (the ADES passes it as `jobs_data_sns_topic_arn`).
      Required unless `dry_run`.
    inputBinding:
      prefix: --topic-arn
  endpoint_url:
    type: string?
    label: SNS endpoint URL
    doc: An SNS endpoint other than AWS's, e.g. a local one or a VPC endpoint.
    inputBinding:
      prefix: --endpoint-url
  timeout:
    type: float?
    label: Delivery timeout
    doc: |
      Give up delivering after this many seconds, retries included (default: update-job's,
      30).
    inputBinding:
      prefix: --timeout
  best_effort:
    type: boolean
    default: false
    label: Best effort
    doc: |
      When the update cannot be delivered, warn and succeed anyway (the receipt's
      message_id is then null): the workflow goes on without the jobs database.
    inputBinding:
      prefix: --best-effort
  aws_region:
    type: string
    default: us-west-2
    label: AWS region
    doc: |
      AWS_DEFAULT_REGION for the step (the credentials chain uses it). Publishing always
      uses the region in the topic ARN.
  dry_run:
    type: boolean
    default: false
    label: Dry run
    doc: Print the update that would be published; send nothing, need no AWS.
    inputBinding:
      prefix: --dry-run
  after:
    type: Any?
    label: After
    doc: |
      Anything from an earlier step (usually its receipt). Not used: it only makes this
      update wait for that step.

outputs:
  receipt:
    type: stdout
    format: iana:application/json
    label: Receipt
    doc: |
      update-job.json, update-job's JSON receipt: {"message_id", "dry_run", "message",
      "publish"}; message_id is null when best effort let an undelivered update pass.
      Pass it to a later step to run that step after this update.

stdout: update-job.json
