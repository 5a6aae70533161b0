#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: A stand-in science step that makes products, each with an index beside it
baseCommand: [sh, -c]
arguments:
  - for name in a b; do echo "$name" > "$name.nc"; echo "index" > "$name.nc.idx"; done
inputs: []
outputs:
  products:
    type: File[]
    outputBinding:
      glob: "*.nc"
    secondaryFiles:
      - .idx
