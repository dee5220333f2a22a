"""in-toto attestations in DSSE envelopes, stored the way cosign stores them (``sha256-<hex>.att``).

CSA-3.1.6.4's "approved" is a signed statement about one manifest digest, not a mood: the SBOM,
the vulnerability result, test results and approvals are each an attestation that admission and
promotion verify against the same trust configuration as signatures.
"""
