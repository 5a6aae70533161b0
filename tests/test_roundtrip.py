"""Property: any job id, labels, inputs and outputs either fail with a clear exit-2 error
or arrive through SNS -> SQS exactly as given."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import LocalTopics, topic_args
from update_job.values import cwl_locations

Invoke = Callable[..., Result]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
files = st.builds(
    lambda location: {"class": "File", "location": location, "basename": "x"},
    st.text(min_size=1),
)
json_objects = st.dictionaries(st.text(), json_values | files, max_size=5)
# Mostly values a user could mean (any script, no control characters), sometimes anything.
printable = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=140)
ascii_ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128)
# Padding that puts some messages just under, and some just over, the SNS size limit.
padding = st.none() | st.none() | st.integers(min_value=261_500, max_value=262_144)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    job_id=st.uuids().map(str) | ascii_ids | printable | st.text(max_size=140),
    labels=st.lists(printable, max_size=4) | st.lists(st.text(max_size=30), max_size=4),
    inputs=json_objects,
    outputs=json_objects,
    pad=padding,
    fifo=st.booleans(),
)
def test_update_fails_clearly_or_round_trips_exactly(
    testbed: LocalTopics,
    invoke: Invoke,
    job_id: str,
    labels: list[str],
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    pad: int | None,
    fifo: bool,
) -> None:
    topic = testbed.fifo if fifo else testbed.standard
    if pad is not None:
        inputs = {**inputs, "padding": "p" * pad}
    args = [f"--job-id={job_id}", "--status=running", f"--inputs={json.dumps(inputs)}"]
    args += [f"--outputs={json.dumps(outputs)}", *(f"--label={label}" for label in labels)]
    result = invoke(*args, *topic_args(topic))
    deliveries = topic.receive()
    if result.exit_code == 2:
        event(f"rejected: {result.stderr.split(':')[2].strip()}")
        [line] = result.stderr.splitlines()
        assert line.startswith("update-job: error: ")
        assert deliveries == []
        return
    assert result.exit_code == 0, result.output
    event("delivered to a FIFO topic" if fifo else "delivered to a standard topic")
    [delivery] = deliveries
    message = delivery.message
    assert message["id"] == job_id
    assert message.get("labels", []) == labels
    assert message["inputs"] == inputs
    assert message["outputs"] == cwl_locations(outputs)
    assert delivery.envelope["MessageAttributes"]["job_id"]["Value"] == job_id
