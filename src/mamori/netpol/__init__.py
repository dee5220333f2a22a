"""Per-tenant network isolation: generate NetworkPolicies / Compose networks from labels, check, evaluate."""
