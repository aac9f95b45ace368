"""Deterministic StackSets operation ids: the idempotency key of every rollout step.

``OperationId`` is how StackSets recognises a repeated request: a second call with the
same id raises ``OperationIdAlreadyExistsException`` instead of starting another
operation. Deriving the id from (run, wave, action) lets a retried task find and adopt the
operation its earlier try started, rather than starting a second one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_LENGTH = 128
"""StackSets' limit on ``OperationId``, which must match ``[a-zA-Z0-9][-a-zA-Z0-9]*``."""
_UNSAFE = re.compile(r"[^a-zA-Z0-9-]+")
_PATTERN = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]{0,127}")


def operation_id(run_id: str, *parts: str) -> str:
    """The operation id for one step of one run, e.g. ``dr-3f2a9c1b7e4d-canary-update``.

    The run id is hashed (Airflow run ids hold ``:`` and ``+``, and can be long); the
    readable parts are kept as far as the alphabet and the length limit allow, and a hash
    of everything makes ids of different steps differ even after that truncation.
    """
    if not run_id or not parts:
        msg = "an operation id needs a run id and at least one part"
        raise ValueError(msg)
    digest = hashlib.sha256("\x1f".join((run_id, *parts)).encode()).hexdigest()
    run_hash = hashlib.sha256(run_id.encode()).hexdigest()[:12]
    readable = "-".join(_UNSAFE.sub("-", part).strip("-") for part in parts).strip("-")
    suffix = digest[:8]
    room = MAX_LENGTH - len("dr-") - len(run_hash) - len(suffix) - 2
    readable = readable[:room].strip("-")
    candidate = f"dr-{run_hash}-{readable}-{suffix}" if readable else f"dr-{run_hash}-{suffix}"
    return candidate.replace("--", "-")


def step_prefix(run_id: str, part: str) -> str:
    """What every id of a run's step ``part`` starts with (e.g. all of its rollback's)."""
    run_hash = hashlib.sha256(run_id.encode()).hexdigest()[:12]
    return f"dr-{run_hash}-{_UNSAFE.sub('-', part).strip('-')}-"


ROLLBACK_STEP = "rollback"
"""The step whose operations undo a run (``rules.wave_name`` keeps waves off its prefix)."""


def rollback_operation_id(
    run_id: str, index: int, attempt: int = 0, part: int = 0, *, narrowed: int = 0
) -> str:
    """The id of a rollback action (``index``), or of one ``part`` of its ``attempt``-th
    retry on the targets it failed on. ``narrowed`` (from 1) numbers the parts of an
    action narrowed before it ran (a delete that keeps the instances of targets whose
    offline nodes may still hold the package); their retries add ``attempt`` and ``part``."""
    step = f"{index}n{narrowed}" if narrowed else str(index)
    if attempt:
        step += f"r{attempt}p{part}"
    return operation_id(run_id, ROLLBACK_STEP, step)


def rollback_among(run_id: str, operation_ids: Iterable[str]) -> str | None:
    """The first of ``operation_ids`` that belongs to the run's rollback (the run was
    rolled back), or None."""
    prefix = step_prefix(run_id, ROLLBACK_STEP)
    return next((value for value in operation_ids if value.startswith(prefix)), None)


def is_operation_id(value: str) -> bool:
    """Whether ``value`` is acceptable to StackSets as an ``OperationId``."""
    return bool(_PATTERN.fullmatch(value))
