"""Operators: one rollout step each, wiring hooks (AWS) to ``core`` (decisions)."""
