"""Secrets: detectors for hard-coded credentials (CSA 3.1.10.1) and a library to read real ones.

``detect(name, value)`` finds credentials in one configuration value and reports them by
detector and redacted fingerprint only. Names, value filters and fingerprints live in
their own modules so applications and other scanners (image layers, RUN lines) can reuse
them.

``get("db-password")`` reads a secret the way a container receives it - mounted files
(Docker/Compose ``/run/secrets``, Kubernetes Secret volumes), ``NAME_FILE``, the environment
(marked weak), providers such as Vault - and returns a :class:`Secret` that is never shown
in logs, reprs or tracebacks. See docs/secrets.md.
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
from mamori.secrets.logfilter import RedactingFilter, install, redact
from mamori.secrets.names import is_secret_name, looks_like_filename, name_parts
from mamori.secrets.redact import fingerprint
from mamori.secrets.sources import (
    DirectorySource,
    EnvFileSource,
    EnvSource,
    Found,
    KubernetesSource,
    ProviderSource,
    SecretError,
    SecretNotFound,
    SecretProvider,
    SecretSource,
    default_sources,
)
from mamori.secrets.store import SecretStore, Watch, default_store, get
from mamori.secrets.value import Origin, Secret, SecretClosed, SourceKind
from mamori.secrets.values import literal, looks_random, shannon_entropy

Reader = SecretStore  # the name the issue uses

__all__ = [
    "DETECTORS", "MAX_LINES", "MAX_SCAN", "MAX_VALUE", "Confidence", "Detector", "DirectorySource", "EnvFileSource",
    "EnvSource", "Found", "KubernetesSource", "Origin", "ProviderSource", "Reader", "RedactingFilter", "Secret",
    "SecretClosed", "SecretError", "SecretMatch", "SecretNotFound", "SecretProvider", "SecretSource", "SecretStore",
    "SourceKind", "Watch", "default_sources", "default_store", "detect", "fingerprint", "get", "install",
    "is_secret_name", "literal", "looks_like_filename", "looks_random", "name_parts", "redact", "shannon_entropy",
    "strongest",
]
