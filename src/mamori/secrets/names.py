"""Does a variable or key NAME say that it holds a secret?

Names are split into word parts (``MYSQL_ROOT_PASSWORD`` -> mysql, root, password;
``clientSecret`` -> client, secret; ``spring.datasource.password``) and judged on the parts,
not on substrings, so that:

* ``PASSWORD_FILE``, ``PASSWORD_MIN_LENGTH``, ``SECRET_NAME``, ``TOKEN_URL``, ``*_PATH``,
  ``*_ENDPOINT`` are *about* a secret but do not hold one (the last part says what they
  hold: a file, a length, a name, a URL);
* ``password_validation.py`` is a file name (a ConfigMap key holding a script);
* ``GPG_KEY`` / ``NGINX_GPGKEYS`` are public key fingerprints: ``key`` alone is not a secret
  word, only with a qualifier (``API_KEY``, ``SECRET_KEY``, ``PRIVATE_KEY`` ...);
* ``MAX_TOKENS`` / ``TOKENIZER`` are language-model settings, not credentials.

This is stricter than kubescape's substring list (which contains plain ``key``) and than
Trivy KSV-0109 (``pass``/``pw`` as substrings), whose false positives users report.
"""

from __future__ import annotations

import re
from functools import lru_cache

_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_TRAILING_DIGITS = re.compile(r"\d+$")
_MAX_NAME = 256

_FILE_EXTENSIONS = frozenset({
    "py", "js", "mjs", "ts", "json", "yaml", "yml", "conf", "cfg", "cnf", "ini", "properties", "txt", "xml",
    "sh", "bash", "toml", "env", "pem", "crt", "cer", "key", "pub", "md", "html", "htm", "tpl", "tmpl", "j2",
    "sql", "lua", "rb", "php", "go", "java", "rego", "csv", "lock", "log", "config", "cf", "hcl", "tf",
})

_CODE_EXTENSIONS = frozenset({"py", "js", "mjs", "ts", "sh", "bash", "lua", "rb", "php", "go", "java"})

# Parts that by themselves say "this holds a credential".
_SECRET_WORDS = frozenset({
    "password", "passwords", "passwd", "passphrase", "passwort", "pwd", "secret", "secrets", "token",
    "credential", "credentials", "creds", "apikey", "accesskey", "secretkey", "privatekey", "masterkey",
    "signingkey", "encryptionkey", "bearer", "authorization",
})
# Joined spellings (``DBPASSWORD``, ``clientsecret``, ``authtoken``) end with one of these.
_SECRET_ENDINGS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "secretkey",
                   "privatekey", "credentials")
# Short words that are a secret only as the last part (``DB_PASS``, ``REDIS_AUTH``, ``PIHOLE_PW``):
# elsewhere they start unrelated names (``PASS_THROUGH``, ``AUTH_METHOD``).
_LAST_ONLY = frozenset({"pass", "pw", "auth"})
# ``key`` is a secret only after one of these (``API_KEY``, ``SECRET_KEY_BASE``, ``APP_KEY``).
_KEY_QUALIFIERS = frozenset({
    "api", "access", "secret", "private", "signing", "sign", "encryption", "encrypt", "decryption", "enc",
    "crypt", "crypto", "cipher", "aes", "hmac", "mac", "master", "auth", "session", "license", "licence",
    "client", "account", "storage", "app", "application", "jwt", "shared", "cookie", "webhook", "ssh", "admin",
    "root", "consumer", "subscription", "role", "deploy", "write", "symmetric",
})
# A last part that says what the variable holds instead of the secret itself.
_NOT_SECRET_LAST = frozenset({
    "file", "files", "path", "paths", "dir", "directory", "folder", "url", "urls", "uri", "endpoint",
    "endpoints", "host", "hostname", "port", "name", "names", "id", "ids", "arn", "ref", "refs", "reference",
    "type", "kind", "length", "len", "min", "max", "size", "count", "mode", "method", "methods", "algorithm",
    "algo", "alg", "enabled", "enable", "disabled", "disable", "required", "require", "policy", "policies",
    "expiry", "expires", "expire", "expiration", "ttl", "timeout", "lifetime", "age", "duration", "seconds",
    "secs", "minutes", "hours", "days", "ms", "header", "headers", "prefix", "suffix", "format", "version",
    "user", "username", "field", "fields", "location", "source", "env", "var", "hash", "hashed", "digest",
    "validation", "validator", "strength", "complexity", "pattern", "regex", "reset", "hint", "prompt",
    "label", "placeholder", "rotation", "store", "backend", "provider", "manager", "mount", "volume",
    "attempts", "retries", "lockout", "limit", "interval", "threshold", "issuer", "audience", "scope",
    "scopes", "service", "server", "cache", "generator", "helper", "command", "cmd", "script", "template",
    "class", "module", "plugin", "mechanism", "encoding", "charset", "parameter", "param", "arg",
})
# A first part that makes the whole name a setting about secrets (``MAX_TOKENS``, ``existingSecret``).
_NOT_SECRET_FIRST = frozenset({"max", "min", "num", "number", "existing"})
# Shell variables that only look like secrets.
_NOT_SECRET_EXACT = frozenset({"pwd", "oldpwd"})


def name_parts(name: str) -> tuple[str, ...]:
    """Lower-case word parts of a name: snake, kebab, dotted and camelCase all split."""
    parts: list[str] = []
    for chunk in _SEPARATORS.split(name[:_MAX_NAME]):
        for piece in _CAMEL.split(chunk):
            word = _TRAILING_DIGITS.sub("", piece.lower())
            if word:
                parts.append(word)
    return tuple(parts)


def looks_like_filename(name: str) -> bool:
    """A ConfigMap key such as ``password_validation.py`` or ``app.properties``."""
    base, dot, ext = name.rpartition(".")
    return bool(dot and base) and ext.lower() in _FILE_EXTENSIONS


def is_code_filename(name: str | None) -> bool:
    """A script (``check.py``, ``entrypoint.sh``): its unquoted right-hand sides are code, not values."""
    if not name or not looks_like_filename(name):
        return False
    return name.rpartition(".")[2].lower() in _CODE_EXTENSIONS


@lru_cache(maxsize=8192)
def is_secret_name(name: str | None) -> bool:
    """True when the name says that its value is a credential (see the module docstring)."""
    if not name or looks_like_filename(name):
        return False
    parts = name_parts(name)
    if not parts or name.lower() in _NOT_SECRET_EXACT:
        return False
    if parts[-1] in _NOT_SECRET_LAST or parts[0] in _NOT_SECRET_FIRST:
        return False
    last = len(parts) - 1
    for i, part in enumerate(parts):
        if part in _SECRET_WORDS:
            return True
        if part in _LAST_ONLY and i == last:
            return True
        if part == "key" and i > 0 and parts[i - 1] in _KEY_QUALIFIERS:
            return True
        if any(part.endswith(e) and len(part) > len(e) for e in _SECRET_ENDINGS):
            return True
    return False


def is_aws_secret_name(name: str | None) -> bool:
    """``AWS_SECRET_ACCESS_KEY``, ``aws_secret_key``, ``awsSecret``: an AWS secret key's usual names."""
    if not name:
        return False
    parts = name_parts(name)
    return "aws" in parts and "secret" in parts and parts[-1] not in _NOT_SECRET_LAST


def is_azure_key_name(name: str | None) -> bool:
    """A name for an Azure storage account key (``AZURE_STORAGE_KEY``, ``AccountKey``)."""
    if not name:
        return False
    parts = name_parts(name)
    return ("azure" in parts or "storage" in parts or "account" in parts) and parts[-1] == "key"
