"""The manual-trigger form of a rollout DAG: one Airflow ``Param`` per overridable field.

The form offers exactly what ``core.params.RunParams`` accepts, in sections, with the
plan's values as defaults and the JSON-schema rules the UI can check as you type. The
authoritative check stays ``core.params.apply_params``, run before any AWS call: a form
only catches the obvious mistakes early.
"""

from __future__ import annotations

from airflow.sdk import Param

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.rollback import ROLLBACK_MODES

# Durations as core.durations reads them: digits (seconds) or units like 1h30m.
DURATION_PATTERN = r"^(\d+|(\d+d)?(\d+h)?(\d+m)?(\d+s)?)$"
ROLLBACK_LABELS = {
    "previous_version": "Restore the previous version (uninstall where it was new)",
    "uninstall": "Uninstall the package wherever this run changed it",
    "none": "Leave everything as it is",
}


def params_form(plan: Plan) -> dict[str, Param]:
    """The trigger form for ``plan`` (the DAG's ``params``)."""
    waves = [wave.name for wave in plan.waves]
    return {
        "version": Param(
            plan.package.version,
            type="string",
            title="Package version",
            description="The version to build and roll out (the plan's by default).",
            minLength=1,
            maxLength=128,
            pattern=r"^[a-zA-Z0-9_\-.]+$",
            section="Package",
        ),
        "source": Param(
            None,
            type=["null", "string"],
            title="Package source folder",
            description="Folder with the package's files, relative to the plan file; empty "
            f"for the plan's ({plan.package.source}).",
            section="Package",
        ),
        "waves": Param(
            waves,
            type="array",
            items={"type": "string", "enum": waves},
            examples=waves,
            minItems=1,
            uniqueItems=True,
            title="Waves to run",
            description="Run only these waves, in the plan's order.",
            section="Rollout",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Resolve the organization and show each wave's accounts, Regions and "
            "planned calls; change nothing in AWS.",
            section="Rollout",
        ),
        "skip_approvals": Param(
            False,
            type="boolean",
            title="Skip approvals",
            description="Do not wait for the approvals the plan asks for between waves.",
            section="Rollout",
        ),
        "gate_threshold_percent": Param(
            None,
            type=["null", "number"],
            minimum=0,
            maximum=100,
            title="Compliance threshold (%)",
            description="Nodes that must report the package installed; empty for the plan's.",
            section="Compliance gate",
        ),
        "gate_timeout": Param(
            None,
            type=["null", "string"],
            pattern=DURATION_PATTERN,
            title="Gate timeout",
            description="How long a wave may take to comply, e.g. 30m or 1h; empty for the plan's.",
            section="Compliance gate",
        ),
        "gate_bake": Param(
            None,
            type=["null", "string"],
            pattern=DURATION_PATTERN,
            title="Bake time",
            description="How long a wave must stay compliant before the next, e.g. 5m; "
            "empty for the plan's.",
            section="Compliance gate",
        ),
        "rollback_mode": Param(
            plan.rollback.mode,
            type="string",
            enum=list(ROLLBACK_MODES),
            values_display=ROLLBACK_LABELS,
            title="Rollback mode",
            description="What a failed wave undoes.",
            section="Rollback",
        ),
    }
