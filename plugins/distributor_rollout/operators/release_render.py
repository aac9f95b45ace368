"""Render a release: the stack set template text and parameters for this package version.

Prepare renders it to store and record it; CheckDeployed renders it to tell whether the
stack set already holds it. Both read the shipped template (or the plan's own) and the
built package's manifest, which the worker may have to rebuild (``package_build``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distributor_rollout.core.package import MANIFEST_FILE
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.stack_parameters import render_stack_parameters
from distributor_rollout.operators.package_build import ensure_build
from distributor_rollout.resources import template

TEMPLATE_PATH = template()
"""The shipped stack set template (package data, ``distributor_rollout.resources``)."""


def render_release(
    plan: Plan,
    build: Mapping[str, Any] | None,
    build_root: str | None,
    account: str,
    template_path: str | Path | None = None,
    *,
    runner_arn: str,
) -> tuple[str, dict[str, str]]:
    """This release's template text and stack set parameters, from the (re)built package,
    or, for a package that already exists in Distributor (``build`` None), from the plan
    alone (``runner_arn``: the role the rollout runs as, which the compliance reader trusts)."""
    manifest_text = None
    if not plan.package.is_existing:
        if not isinstance(build, Mapping):
            raise TypeError(f"build must be the Build task's result (a dict), got {build!r}")
        out = ensure_build(plan, build, build_root)
        manifest_text = (out / MANIFEST_FILE).read_text(encoding="utf-8")
    parameters = render_stack_parameters(
        plan,
        manifest_text,
        account_id=account,
        runner_arn=runner_arn,
    )
    shipped = Path(template_path) if template_path else TEMPLATE_PATH
    return shipped.read_text(encoding="utf-8"), parameters
