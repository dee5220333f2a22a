"""Gated promotion between environments (CSA-3.1.1.2): verify every gate for the exact digest, then copy.

Environments and their gates are declared in ``mamori.yaml`` (:mod:`mamori.promote.environments`);
``promote`` copies manifest, blobs, signatures and attestations by digest and adds a signed
promotion attestation; ``status`` shows which digest each environment holds.
"""
