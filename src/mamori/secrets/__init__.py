"""Secrets: detectors for hard-coded credentials (CSA 3.1.10.1).

``detect(name, value)`` finds credentials in one configuration value and reports them by
detector and redacted fingerprint only. Names, value filters and fingerprints live in
their own modules so applications and other scanners (image layers, RUN lines) can reuse
them.
"""

from mamori.secrets.detectors import (
    DETECTORS,
    MAX_LINES,
    MAX_SCAN,
    MAX_VALUE,
    Confidence,
    Detector,
    SecretMatch,
    detect,
    strongest,
)
from mamori.secrets.names import is_secret_name, looks_like_filename, name_parts
from mamori.secrets.redact import fingerprint
from mamori.secrets.values import literal, looks_random, shannon_entropy

__all__ = [
    "DETECTORS", "MAX_LINES", "MAX_SCAN", "MAX_VALUE", "Confidence", "Detector", "SecretMatch", "detect",
    "fingerprint", "is_secret_name", "literal", "looks_like_filename", "looks_random", "name_parts",
    "shannon_entropy", "strongest",
]
