"""cosign-compatible image signatures: key files, the simple-signing payload, the ``.sig`` registry layout.

Signatures are stored the way cosign (<= v2, legacy tag scheme) stores them, so cosign and
containers/image ``sigstoreSigned`` can read what mamori writes and the reverse.
"""
