"""Container forensics: a signed, hash-listed evidence bundle of a live container, and its verification.

``capture`` collects from the Docker Engine API (and the host's /proc for a local daemon) in the
order of volatility; ``verify`` re-hashes a bundle offline and names every changed, added or
missing artifact and any bad signature. See docs/forensics.md.
"""
