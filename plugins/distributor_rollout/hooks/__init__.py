"""Hooks: the only code that talks to AWS (pagination, retries, errors into domain errors)."""
