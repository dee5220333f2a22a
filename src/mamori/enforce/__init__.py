"""Enforcement adapters (admission webhook, Docker AuthZ plugin) around the one decision point."""
