"""The message contract: the sample messages under tests/messages against the model and schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from update_job.message import JobUpdate, json_schema, make_update

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
