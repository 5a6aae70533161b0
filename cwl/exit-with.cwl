#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
id: exit-with
label: Exit with a job's exit code
doc: |
  Exits with `exit_code` (1 for a code outside 0..255): the step that fails a workflow run
  whose job failed, after the end update has published `failed`. It publishes nothing, so
  a runner that retries it repeats nothing. Give it the end update's receipt as `after`.

$namespaces:
  s: https://schema.org/
$schemas:
  - https://schema.org/version/latest/schemaorg-current-https.rdf
s:license: https://spdx.org/licenses/Apache-2.0

hints:
  # Any image with python3 will do; this one is already there for the update steps.
  DockerRequirement:
    dockerPull: localhost/update-job:0.1.0

# A process exits with 0..255 only (256 would wrap to success): any other code exits 1.
baseCommand:
  - python3
  - -c
  - "import sys; code = int(sys.argv[1]); sys.exit(code if 0 <= code <= 255 else 1)"

inputs:
  exit_code:
    type: int
    label: Exit code
    doc: The job's exit code; 0 succeeds, anything else fails the step.
    inputBinding:
      position: 1
  after:
    type: Any?
    label: After
    doc: Anything from an earlier step (the end update's receipt); it only orders this step.

outputs: []
