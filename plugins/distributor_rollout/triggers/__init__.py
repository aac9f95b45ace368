"""Triggers: the triggerer's async waiting loops behind the deferrable sensors."""
