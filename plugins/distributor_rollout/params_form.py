"""The manual-trigger form of a rollout DAG: one Airflow ``Param`` per overridable field.

The form offers what ``core.params.RunParams`` accepts and the plan's ``manual_runs``
allows, in sections, with the plan's values as defaults and the JSON-schema rules the UI
can check as you type (a param the plan does not let a run change is left out). The
authoritative check stays ``core.params.apply_params``, run before any AWS call: a form
only catches the obvious mistakes early.
"""

from __future__ import annotations

from airflow.sdk import Param

from distributor_rollout.core.durations import format_duration
from distributor_rollout.core.params import gate_floor
from distributor_rollout.core.plan import Plan

# Durations as core.durations reads them: digits (seconds) or units like 1h30m.
DURATION_PATTERN = r"^(\d+|(\d+d)?(\d+h)?(\d+m)?(\d+s)?)$"
ROLLBACK_LABELS = {
    "previous_version": "Restore the previous version (uninstall where it was new)",
    "uninstall": "Uninstall the package wherever this run changed it",
    "none": "Leave everything as it is",
}


def one_of(names: list[str]) -> str:
    """A JSON-schema pattern that matches exactly one of ``names`` (wave names, whose
    letters, digits, '_' and '-' stand for themselves in a pattern).

    The waves param checks its items with this rather than an ``enum``: jsonschema checks
    an enum by comparing an item with each name in turn, in Python, and Airflow validates
    a DAG's params again for every task it serializes, so with an enum a plan's parse
    grew with waves² × tasks (a 64-wave plan spent about 0.1 s of its parse on it).
    """
    return "^(?:" + "|".join(names) + ")$"


def params_form(plan: Plan) -> dict[str, Param]:
    """The trigger form for ``plan`` (the DAG's ``params``): the params its policy allows."""
    form = _all_params(plan)
    policy = plan.manual_runs
    hidden = {
        "version": not policy.version,
        "source": not policy.source or plan.package.is_existing,  # nothing is built
        "waves": policy.waves == "none",
        "skip_approvals": not policy.skip_approvals,
        "gate_threshold_percent": policy.gates == "none",
        "gate_timeout": policy.gates == "none",
        "gate_bake": policy.gates == "none",
        "rollback_mode": not policy.rollback_modes,
    }
    return {name: param for name, param in form.items() if not hidden.get(name, False)}


def _all_params(plan: Plan) -> dict[str, Param]:
    waves = [wave.name for wave in plan.waves]
    policy = plan.manual_runs
    tighten = policy.gates == "tighten"
    floor = gate_floor(plan, tuple(waves))
    modes = list(dict.fromkeys([plan.rollback.mode, *policy.rollback_modes]))
    return {
        "version": Param(
            plan.package.version,
            # An existing package may go unpinned: each node gets its default version.
            type=["null", "string"] if plan.package.is_existing else "string",
            title="Package version",
            description=(
                f"The version of {plan.package.name} to pin (empty: the plan's, or each "
                "node's default version when the plan pins none)."
                if plan.package.is_existing
                else "The version to build and roll out (the plan's by default)."
            ),
            minLength=1,
            maxLength=128,
            pattern=r"^[a-zA-Z0-9_\-.]+$",
            section="Package",
        ),
        "source": Param(
            None,
            type=["null", "string"],
            maxLength=1024,
            title="Package source",
            description="A folder under the packages root ([distributor_rollout] "
            "packages_root), or s3://<bucket>/<prefix>/ in one of the plan's source buckets ("
            + (", ".join(plan.package.source_buckets) or "none")
            + "); empty for the plan's.",
            section="Package",
        ),
        "waves": Param(
            waves,
            type="array",
            items={"type": "string", "pattern": one_of(waves)},
            examples=waves,  # the options of the form's multi-select
            minItems=1,
            uniqueItems=True,
            title="Waves to run",
            description="Run only these waves, in the plan's order"
            + (f"; {waves[0]} must stay in." if policy.waves == "keep_first" else "."),
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
            minimum=floor.threshold_percent if tighten else 0,
            maximum=100,
            title="Compliance threshold (%)",
            description="Nodes that must report the package installed; empty for the plan's."
            + (" Only a stricter gate than the plan's." if tighten else ""),
            section="Compliance gate",
        ),
        "gate_timeout": Param(
            None,
            type=["null", "string"],
            pattern=DURATION_PATTERN,
            title="Gate timeout",
            description="How long a wave may take to comply, e.g. 30m or 1h; empty for the plan's."
            + (f" At least {format_duration(floor.timeout_seconds)}." if tighten else ""),
            section="Compliance gate",
        ),
        "gate_bake": Param(
            None,
            type=["null", "string"],
            pattern=DURATION_PATTERN,
            title="Bake time",
            description="How long a wave must stay compliant before the next, e.g. 5m; "
            "empty for the plan's."
            + (f" At least {format_duration(floor.bake_seconds)}." if tighten else ""),
            section="Compliance gate",
        ),
        "rollback_mode": Param(
            plan.rollback.mode,
            type="string",
            enum=modes,
            values_display={mode: ROLLBACK_LABELS[mode] for mode in modes},
            title="Rollback mode",
            description="What a failed wave undoes.",
            section="Rollback",
        ),
    }
