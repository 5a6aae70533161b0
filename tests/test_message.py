"""The message contract: the sample messages under tests/messages against the model and schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from update_job.message import (
    EXTRA_STATUSES,
    JobUpdate,
    UnknownStatus,
    json_schema,
    make_update,
    parse_extra_statuses,
)

SAMPLES = sorted((Path(__file__).parent / "messages").glob("*.json"))


def test_there_are_samples() -> None:
    assert {path.stem for path in SAMPLES} >= {"submitted", "running-start", "succeeded", "failed"}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.stem)
def test_sample_round_trips_through_the_model(path: Path) -> None:
    sample = json.loads(path.read_text())
    assert json.loads(JobUpdate.model_validate(sample).to_json()) == sample


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.stem)
def test_sample_is_valid_under_the_published_schema(path: Path) -> None:
    jsonschema.validate(json.loads(path.read_text()), json_schema())


def test_made_updates_are_valid_under_the_schema() -> None:
    update = make_update("job-1", exit_code=0, labels=["a"], start_time="now", progress="100")
    message = json.loads(update.to_json())
    jsonschema.validate(message, json_schema())
    assert message["status"] == "succeeded"
    assert message["progress"] == 100


def test_schema_rejects_what_the_consumer_cannot_take() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "j", "status": "Succeeded", "updated": "x"}, json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "j", "status": "running"}, json_schema())


def test_naive_times_are_utc_and_zoned_times_are_converted() -> None:
    naive = make_update("j", "running", start_time="2016-01-14T08:00:00")
    zoned = make_update("j", "running", start_time="2016-01-14T10:00:00+02:00")
    assert json.loads(naive.to_json())["start-time"] == "2016-01-14T08:00:00.000Z"
    assert json.loads(zoned.to_json())["start-time"] == "2016-01-14T08:00:00.000Z"


def test_fractional_progress_is_kept() -> None:
    assert json.loads(make_update("j", "running", progress="33.5").to_json())["progress"] == 33.5


# ------------------------------------------------------------------ final updates


def test_a_success_finishes_at_100_with_a_final_message() -> None:
    message = json.loads(make_update("j", exit_code=0).to_json())
    assert (message["status"], message["progress"], message["message"]) == (
        "succeeded",
        100,
        "succeeded",
    )
    assert message["stop-time"] == message["updated"]
    assert json.loads(make_update("j", "Successful").to_json())["progress"] == 100


def test_a_failure_says_its_exit_code_and_keeps_the_progress_it_reached() -> None:
    message = json.loads(make_update("j", exit_code=3).to_json())
    assert message["message"] == "failed with exit code 3"
    assert "progress" not in message  # the progress it reached stays in the document
    assert json.loads(make_update("j", "failed").to_json())["message"] == "failed"


def test_a_final_update_keeps_the_message_and_progress_it_is_given() -> None:
    update = make_update("j", exit_code=0, message="12 granules made", progress=99)
    assert (update.message, update.progress) == ("12 granules made", 99)


def test_a_running_update_gets_no_final_fields() -> None:
    message = json.loads(make_update("j", "running").to_json())
    assert {"message", "progress", "stop-time"}.isdisjoint(message)


# ------------------------------------------------------------------ the status vocabulary


def test_extra_statuses_are_normalised_lowercase_words() -> None:
    assert parse_extra_statuses(" Dismissed,paused,, STAGE-in ,running") == {
        "dismissed",
        "paused",
        "stage-in",
    }
    assert parse_extra_statuses("") == frozenset()
    assert parse_extra_statuses(None) == frozenset()


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ("accepted", "'accepted' is OGC's name for submitted"),
        ("on hold", "'on hold' is not a status word"),
        ("3rd", "'3rd' is not a status word"),
        ("x" * 65, "is not a status word"),
    ],
)
def test_extra_statuses_that_cannot_be(words: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_extra_statuses(words)


def test_the_four_stay_the_default_and_typos_are_refused() -> None:
    with pytest.raises(UnknownStatus, match="unknown status 'dismissed': use one of submitted"):
        make_update("j", "dismissed")
    with pytest.raises(UnknownStatus, match="unknown status 'runing'"):
        make_update("j", "runing", extra_statuses=frozenset({"dismissed"}))


def test_a_deployments_status_is_published_lowercase_and_valid_under_its_schema() -> None:
    extra = frozenset({"dismissed"})
    message = json.loads(make_update("j", "Dismissed", extra_statuses=extra).to_json())
    assert message["status"] == "dismissed"
    # Not a final status: what it means is the deployment's to say.
    assert {"stop-time", "progress", "message"}.isdisjoint(message)
    jsonschema.validate(message, json_schema(extra))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(message, json_schema())
    assert json_schema(extra)["$defs"]["Status"]["enum"] == [
        "submitted", "running", "succeeded", "failed", "dismissed",
    ]  # fmt: skip
    # A consumer reading the message back with the deployment's vocabulary.
    read = JobUpdate.model_validate(message, context={EXTRA_STATUSES: extra})
    assert read.status == "dismissed"


# ------------------------------------------------------------------ docs/consumer.md


def test_the_consumer_docs_examples_are_valid_messages_one_per_status() -> None:
    text = (Path(__file__).parent.parent / "docs" / "consumer.md").read_text()
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]
    examples = [block for block in blocks if {"id", "status", "updated"} <= set(block)]
    schema = json_schema(frozenset({"dismissed"}))
    for example in examples:
        jsonschema.validate(example, schema)
    assert [example["status"] for example in examples] == [
        "submitted", "running", "succeeded", "failed", "dismissed",
    ]  # fmt: skip
    # The final ones are what update-job makes: a final message, 100 on success.
    made = {
        status: json.loads(make_update("j", exit_code=code).to_json())
        for status, code in (("succeeded", 0), ("failed", 3))
    }
    for example in examples:
        if example["status"] in made:
            expected = made[example["status"]]
            assert example["message"] == expected["message"]
            assert example.get("progress") == expected.get("progress")
