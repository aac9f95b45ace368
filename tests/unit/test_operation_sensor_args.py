"""The StackSet operation sensor's templated arguments."""

from __future__ import annotations

from distributor_rollout.sensors.stack_set import StackSetOperationSensor


def ids(value: object) -> list[str]:
    """The operation ids a sensor built with ``value`` waits for."""
    sensor = StackSetOperationSensor(
        task_id="wait",
        stack_set_name="s",
        operation_ids=value,  # type: ignore[arg-type]
    )
    return sensor._operation_ids()


def test_rendered_id_lists_are_read_as_lists() -> None:
    assert ids("['dr-a', 'dr-b']") == ["dr-a", "dr-b"]
    assert ids('["dr-a"]') == ["dr-a"]
    assert ids("dr-a") == ["dr-a"]
    assert ids("") == []
    assert ids(["dr-c"]) == ["dr-c"]
