"""Properties of the event parser: whatever bytes FC hands over, ``classify`` answers with an invocation
or with a caller's error (a ``RelayError`` below 500 with a code and a message), never with a crash.

The inputs are arbitrary bytes, arbitrary JSON, and every sample in ``events/`` damaged the way real
transports and senders damage events (see ``tests/property_strategies.py``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from casrelay.errors import RelayError
from casrelay.response import status_of
from casrelay.triggers import BatchInvocation, DirectInvocation, HttpInvocation, TimerInvocation, classify
from casrelay.triggers.batch import RecordProblem
from tests.property_strategies import EVENTS, bounded, event_bytes, json_values, mutated, nested_json

INVOCATION_TYPES = (HttpInvocation, DirectInvocation, BatchInvocation, TimerInvocation)


def assert_is_a_callers_error(err: RelayError) -> None:
    assert status_of(err) < 500, f"{err.code} is a {status_of(err)} for a bad event"
    assert err.code, "an error must have a code"
    assert err.message, "an error must have a message"
    for field_error in err.errors:
        assert field_error.field, f"{err.code} has a field error that names no field"


def classify_or_refuse(event: Any) -> Any:
    """Run ``classify``; a ``RelayError`` is checked and returned, anything else propagates."""
    try:
        invocation = classify(event, "req-property")
    except RelayError as err:
        assert_is_a_callers_error(err)
        return err
    assert isinstance(invocation, INVOCATION_TYPES)
    if isinstance(invocation, BatchInvocation):
        assert invocation.batch.items, "a batch invocation carries at least one item"
        for item in invocation.batch.items:
            if isinstance(item, RecordProblem):
                assert_is_a_callers_error(item.error)
    return invocation


@given(st.binary(max_size=256))
@bounded(200)
@example(b"\xff\xfe")
@example(b"")
@example(nested_json(100_000).encode())
def test_classify_refuses_arbitrary_bytes_with_a_callers_error(raw):
    classify_or_refuse(raw)


@given(json_values)
@bounded(300)
def test_classify_reads_or_refuses_any_decoded_json_value(value):
    classify_or_refuse(value)


@given(event_bytes())
@bounded(300)
def test_classify_reads_or_refuses_damaged_sample_events(raw):
    classify_or_refuse(raw)


@given(st.sampled_from(sorted(EVENTS)).map(EVENTS.__getitem__).flatmap(mutated))
@bounded(300)
def test_classify_reads_or_refuses_mutated_sample_events_passed_as_objects(event):
    classify_or_refuse(event)


def test_every_sample_event_is_classified_without_error():
    for name, event in EVENTS.items():
        assert isinstance(classify_or_refuse(event), INVOCATION_TYPES), name
