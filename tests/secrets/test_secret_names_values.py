"""Secret-looking names, literal values and randomness, judged on their own."""

from __future__ import annotations

import pytest

from mamori.secrets import is_secret_name, literal, looks_like_filename, looks_random, name_parts
from mamori.secrets.names import is_aws_secret_name, is_code_filename
from tests.secrets.fakes import ALNUM, B64, HEX, body

SECRET_NAMES = [
    "PASSWORD", "MYSQL_ROOT_PASSWORD", "db_passwd", "DB_PWD", "PGADMIN_DEFAULT_PW", "SMTP_PASS", "REDIS_AUTH",
    "SECRET", "DJANGO_SECRET_KEY", "SECRET_KEY_BASE", "clientSecret", "CLIENT_SECRET", "GITHUB_TOKEN", "authToken",
    "API_KEY", "apiKey", "APIKEY", "X_API_KEY", "ACCESS_KEY", "PRIVATE_KEY", "privateKey", "APP_KEY", "MASTER_KEY",
    "ENCRYPTION_KEY", "LICENSE_KEY", "CREDENTIALS", "GOOGLE_CREDENTIALS_JSON", "WEBPASSWORD", "DBPASSWORD",
    "spring.datasource.password", "passphrase", "BEARER", "AUTHORIZATION", "PASSWORD2",
]
NOT_SECRET_NAMES = [
    "PASSWORD_FILE", "PASSWORD_MIN_LENGTH", "SECRET_NAME", "TOKEN_URL", "SECRETS_PATH", "KEY_FILE",
    "AUTH_ENDPOINT", "TOKEN_TTL", "PASSWORD_POLICY", "password_validation.py", "app.properties", "GPG_KEY",
    "NGINX_GPGKEYS", "PUBLIC_KEY", "MAX_TOKENS", "TOKENIZER_PARALLELISM", "existingSecret", "secretName",
    "AUTH_METHOD", "PASS_THROUGH", "BYPASS", "PWD", "OLDPWD", "AWS_ACCESS_KEY_ID", "AZURE_CLIENT_ID", "USER",
    "DB_PORT", "HTTPD_SHA256", "", "   ", "_", "SECRETARY", "KEYBOARD_LAYOUT",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", NOT_SECRET_NAMES)
def test_names_that_are_not_secrets(name: str) -> None:
    assert not is_secret_name(name)


def test_name_parts_split_every_convention() -> None:
    assert name_parts("MYSQL_ROOT_PASSWORD") == ("mysql", "root", "password")
    assert name_parts("clientSecretKey") == ("client", "secret", "key")
    assert name_parts("spring.datasource.password-2") == ("spring", "datasource", "password")
    assert name_parts("HTTPServerURL") == ("http", "server", "url")
    assert len(name_parts("A_" * 10_000)) <= 256  # bounded


def test_filenames_and_code() -> None:
    assert looks_like_filename("password_validation.py") and is_code_filename("password_validation.py")
    assert looks_like_filename("app.properties") and not is_code_filename("app.properties")
    assert not looks_like_filename(".env") and not looks_like_filename("spring.datasource.password")


def test_aws_secret_names() -> None:
    assert is_aws_secret_name("AWS_SECRET_ACCESS_KEY") and is_aws_secret_name("awsSecretKey")
    assert not is_aws_secret_name("AWS_SECRET_ACCESS_KEY_FILE") and not is_aws_secret_name("AWS_ACCESS_KEY_ID")


@pytest.mark.parametrize(("value", "expected"), [
    ("example", "example"), ("'changeme'", "changeme"), ('"s3cr3t"', "s3cr3t"), ("123456", "123456"),
    ("${A}", None), ("$A", None), ("$(A)", None), ("{{ .Values.a }}", None), ("<token>", None), ("xxxx", None),
    ("REPLACE_ME", None), ("true", None), ("42", None), ("/etc/app/secret", None), ("https://example.com/a", None),
    ("vault:kv/data/app#token", None), ("", None), (None, None), ("password", None),
])
def test_literal(value: str | None, expected: str | None) -> None:
    assert literal(value) == expected


def test_base64_starting_with_slash_is_not_a_path() -> None:
    value = "/" + body(39, B64)
    assert literal(value) == value


def test_documentation_examples_are_not_literals() -> None:
    assert literal("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") is None
    assert literal("EXAMPLE") == "EXAMPLE"  # a weak literal, not a vendor's sample key


@pytest.mark.parametrize("n", [12, 16, 20, 32, 40, 64])
def test_random_strings_look_random(n: int) -> None:
    hits = sum(looks_random(body(n, ALNUM, seed)) for seed in range(200))
    assert hits >= 180, f"only {hits}/200 random alnum strings of length {n} passed"
    hex_hits = sum(looks_random(body(n, HEX, seed)) for seed in range(200))
    assert hex_hits >= 170, f"only {hex_hits}/200 random hex strings of length {n} passed"


@pytest.mark.parametrize("word", [
    "mysecretpassword", "somewordpress", "supersecretpassword", "correcthorsebatterystaple", "my-super-secret-jwt-key",
    "adminadminadmin", "correct horse battery staple", "Password", "abc", "nextcloud123",
])
def test_words_do_not_look_random(word: str) -> None:
    assert not looks_random(word)
