"""Sensors: wait on AWS (deferrable by default; poke and reschedule modes also work)."""
