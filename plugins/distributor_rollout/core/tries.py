"""Which records of a task's earlier tries a try may act on.

A task keeps records across its tries (Airflow's task state store) so that a try Airflow
failed from outside (its deferral race, a lost worker) is retried to the same decision.
Only Airflow's own retries continue: a person who clears a task asks for a new judgement,
and Airflow then raises the task's ``max_tries``. A record therefore carries the
``max_tries`` it was made under.
"""

from __future__ import annotations


def continues(recorded_max_tries: object, max_tries: int) -> bool:
    """Whether a try with ``max_tries`` continues the series of tries that made a record
    under ``recorded_max_tries`` (an Airflow retry), rather than one a clear started."""
    return isinstance(recorded_max_tries, int) and recorded_max_tries == max_tries
