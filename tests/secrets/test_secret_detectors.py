"""Every detector: a true positive, and a near miss that must stay silent."""

from __future__ import annotations

import pytest

from mamori.secrets import DETECTORS, MAX_SCAN, MAX_VALUE, Confidence, SecretMatch, detect
from tests.secrets.fakes import (
    ALNUM,
    B64,
    B64URL,
    BASE32,
    HEX,
    body,
    gcp_service_account,
    jwt,
    pem,
)

H, M, L = Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW

# (case, variable name, value, detector id, confidence)
POSITIVES: list[tuple[str, str | None, str, str, Confidence]] = [
    ("pem-rsa", "TLS_KEY", pem("RSA PRIVATE KEY"), "private-key", H),
    ("pem-ec", None, pem("EC PRIVATE KEY"), "private-key", H),
    ("pem-dsa", None, pem("DSA PRIVATE KEY"), "private-key", H),
    ("pem-openssh", "SSH_KEY", pem("OPENSSH PRIVATE KEY"), "private-key", H),
    ("pem-pkcs8", None, pem("PRIVATE KEY"), "private-key", H),
    ("pem-encrypted", None, pem("ENCRYPTED PRIVATE KEY"), "private-key", H),
    ("pem-pgp", None, "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: x\n\n" + body(64, B64) + "\n" + body(64, B64)
     + "\n-----END PGP PRIVATE KEY BLOCK-----", "private-key", H),
    ("pem-escaped-newlines", "KEY", pem().replace("\n", "\\n"), "private-key", H),
    ("aws-akia", "AWS_ACCESS_KEY_ID", "AKIA" + body(16, BASE32), "aws-access-key-id", H),
    ("aws-asia", None, "ASIA" + body(16, BASE32, 1), "aws-access-key-id", H),
    ("aws-abia", None, "ABIA" + body(16, BASE32, 2), "aws-access-key-id", H),
    ("aws-acca", None, "ACCA" + body(16, BASE32, 3), "aws-access-key-id", H),
    ("aws-secret", "AWS_SECRET_ACCESS_KEY", body(40, B64), "aws-secret-access-key", H),
    ("aws-secret-lower", "aws_secret_key", body(40, B64, 1), "aws-secret-access-key", H),
    ("gcp-sa", "GOOGLE_CREDENTIALS_JSON", gcp_service_account(), "gcp-service-account", H),
    ("gcp-api-key", "MAPS", "AIza" + body(35, B64URL), "gcp-api-key", H),
    ("azure-conn", "STORAGE_CONNECTION",
     f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={body(86, B64)}==;EndpointSuffix=core.windows.net",
     "azure-storage-key", H),
    ("azure-sas-key", "BUS", f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;"
                             f"SharedAccessKey={body(43, B64)}=", "azure-storage-key", H),
    ("azure-named-key", "AZURE_STORAGE_KEY", body(86, B64, 1) + "==", "azure-storage-key-named", H),
    ("azure-ad-secret", "AZURE_CLIENT_SECRET", body(3) + "8Q~" + body(34, ALNUM + "_~.-"),
     "azure-ad-client-secret", H),
    ("github-ghp", "GH", "ghp_" + body(36), "github-token", H),
    ("github-gho", None, "gho_" + body(36, seed=1), "github-token", H),
    ("github-ghu", None, "ghu_" + body(36, seed=2), "github-token", H),
    ("github-ghs", None, "ghs_" + body(36, seed=3), "github-token", H),
    ("github-ghr", None, "ghr_" + body(76, seed=4), "github-token", H),
    ("github-fine-grained", None, "github_pat_" + body(22) + "_" + body(59), "github-fine-grained-pat", H),
    ("gitlab-glpat", None, "glpat-" + body(20, B64URL), "gitlab-token", H),
    ("gitlab-gldt", None, "gldt-" + body(20, seed=1), "gitlab-token", H),
    ("gitlab-glrt", None, "glrt-" + body(24, seed=2), "gitlab-token", H),
    ("gitlab-runner-registration", None, "GR1348941" + body(20, seed=3), "gitlab-token", H),
    ("slack-bot", "SLACK", "xoxb-" + body(12, "0123456789") + "-" + body(24), "slack-token", H),
    ("slack-user", None, "xoxp-" + body(12, "0123456789", 1) + "-" + body(32, seed=1), "slack-token", H),
    ("slack-webhook", "HOOK", "https://hooks.slack.com/services/T" + body(9, BASE32) + "/B" + body(9, BASE32, 1)
     + "/" + body(24), "slack-webhook", H),
    ("stripe-sk", None, "sk_live_" + body(24), "stripe-secret-key", H),
    ("stripe-rk", None, "rk_live_" + body(24, seed=1), "stripe-secret-key", H),
    ("sendgrid", None, "SG." + body(22, B64URL) + "." + body(43, B64URL), "sendgrid-api-key", H),
    ("npm", "NPM_TOKEN", "npm_" + body(36), "npm-token", H),
    ("pypi", "TWINE_PASSWORD", "pypi-AgEIcHlwaS5vcmc" + body(70, B64URL), "pypi-token", H),
    ("jwt", "ID_TOKEN", jwt(), "jwt", H),
    ("jwt-bearer", "AUTHORIZATION", "Bearer " + jwt(seed=1), "jwt", H),
    ("url-random", "DATABASE_URL", f"postgres://app:{body(16)}@db:5432/app", "url-password", H),
    ("url-empty-user", "REDIS_URL", f"redis://:{body(20, seed=1)}@redis:6379/0", "url-password", H),
    ("url-weak", "DATABASE_URL", "mysql://root:whalehello@db:3306/app", "url-password", L),
    ("generic-random", "DJANGO_SECRET_KEY", body(50, ALNUM + "!@#%^&*-_=+"), "generic-random", M),
    ("generic-hex", "SESSION_SECRET", body(32, HEX), "generic-random", M),
    ("generic-camel", "clientSecret", body(24, seed=5), "generic-random", M),
    ("generic-literal", "MYSQL_ROOT_PASSWORD", "example", "generic-literal", L),
    ("generic-changeme", "ADMIN_PASSWORD", "changeme", "generic-literal", L),
    ("generic-numeric-long", "PIN_PASSWORD", "12345678", "generic-literal", L),
    ("generic-pass-last", "SMTP_PASS", "mailpass1", "generic-literal", L),
    ("generic-quoted", "DB_PASSWD", '"gitea"', "generic-literal", L),
]

# (case, variable name, value): near misses that must give no match at all
NEGATIVES: list[tuple[str, str | None, str]] = [
    ("pem-public", "TLS_PUB", pem("PUBLIC KEY")),
    ("pem-certificate", "TLS_CRT", pem("CERTIFICATE")),
    ("pem-elided-body", "KEY", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----"),
    ("pem-placeholder-body", None, "-----BEGIN PRIVATE KEY-----\n<your key here>\n-----END PRIVATE KEY-----"),
    ("aws-doc-example", "AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
    ("aws-doc-example-secret", "AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("aws-short", None, "AKIA" + body(15, BASE32)),
    ("aws-not-base32", None, "AKIA" + "0189" + body(12, BASE32)),
    ("aws-inside-word", None, "XAKIA" + body(16, BASE32) + "Z"),
    ("aws-secret-wrong-name", "BUILD_CHECKSUM", body(40, B64)),
    ("gcp-sa-without-key", "GOOGLE_CREDENTIALS_JSON", gcp_service_account(with_key=False)),
    ("gcp-api-key-short", None, "AIza" + body(34, B64URL)),
    ("azure-conn-reference", None, "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${STORAGE_KEY}"),
    ("azure-88-wrong-name", "CHECKSUM", body(86, B64) + "=="),
    ("azure-ad-no-marker", None, body(3) + "8Qx" + body(34)),
    ("github-unknown-prefix", None, "ghx_" + body(36)),
    ("github-short", None, "ghp_" + body(35)),
    ("github-filler", None, "ghp_" + "x" * 36),
    ("github-fine-grained-short", None, "github_pat_" + body(10)),
    ("gitlab-short", None, "glpat-" + body(19)),
    ("slack-unknown", None, "xoxz-" + body(30)),
    ("slack-webhook-doc", None, "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    ("stripe-test", None, "sk_test_" + body(24)),
    ("stripe-publishable", None, "pk_live_" + body(24)),
    ("sendgrid-short", None, "SG." + body(22) + "." + body(42)),
    ("npm-short", None, "npm_" + body(35)),
    ("pypi-short", None, "pypi-AgEIcHlwaS5vcmc" + body(20)),
    ("jwt-no-alg", None, jwt(header={"typ": "JWT"})),
    ("jwt-not-json", None, "eyJ" + body(20) + "." + body(20) + "." + body(20)),
    ("url-reference", "DATABASE_URL", "postgres://app:${DB_PASSWORD}@db/app"),
    ("url-k8s-reference", "DATABASE_URL", "postgres://app:$(DB_PASSWORD)@db/app"),
    ("url-placeholder", "DATABASE_URL", "postgres://user:password@localhost/db"),
    ("url-bracketed", "DATABASE_URL", "postgres://user:<password>@localhost/db"),
    ("url-no-password", "DATABASE_URL", "postgres://app@db:5432/app"),
    ("ssh-git-url", "REPO", "ssh://git@github.com:22/org/repo.git"),
    ("image-digest", "IMAGE", "registry:5000/app@sha256:" + body(64, HEX)),
]

# Secret-looking values under names that are about a secret but do not hold one.
NOT_SECRET_NAMES = [
    "PASSWORD_FILE", "MYSQL_ROOT_PASSWORD_FILE", "PASSWORD_MIN_LENGTH", "SECRET_NAME", "TOKEN_URL",
    "GITHUB_TOKEN_PATH", "SECRETS_DIR", "AUTH_TOKEN_ENDPOINT", "TOKEN_TTL", "SECRET_REF", "API_KEY_HEADER",
    "PASSWORD_HASH", "password_validation.py", "GPG_KEY", "NGINX_GPGKEYS", "MAX_TOKENS", "TOKENIZER",
    "existingSecret", "PWD", "POSTGRES_HOST_AUTH_METHOD", "AWS_ACCESS_KEY_ID_FILE", "DB_PORT",
]

# Values that take a secret's place without being one.
NOT_LITERALS = [
    "", "   ", "${DB_PASSWORD}", "$DB_PASSWORD", "$(DB_PASSWORD)", "{{ .Values.db.password }}", "<your-token>",
    "[REDACTED]", "xxx", "XXXXXXXX", "****", "********", "REPLACE_ME", "replace-me", "your_password_here",
    "your-api-key", "TODO", "null", "None", "true", "False", "yes", "off", "0", "1", "3600", "8080",
    "/run/secrets/db-password", "./secrets/token.txt", "C:\\secrets\\token", "https://vault.example.com/v1/kv",
    "vault:secret/data/db#password", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
    "op://vault/item/password", "password", "secret", "0000000000000000", "--", "|",
]


def _ids(matches: list[SecretMatch]) -> list[str]:
    return [m.detector for m in matches]


@pytest.mark.parametrize(("case", "name", "value", "detector", "confidence"), POSITIVES,
                         ids=[p[0] for p in POSITIVES])
def test_detects(case: str, name: str | None, value: str, detector: str, confidence: Confidence) -> None:
    matches = detect(name, value)
    assert matches, f"{case}: nothing found"
    assert matches[0].detector == detector, _ids(matches)
    assert matches[0].confidence is confidence


@pytest.mark.parametrize(("case", "name", "value"), NEGATIVES, ids=[n[0] for n in NEGATIVES])
def test_near_miss_is_silent(case: str, name: str | None, value: str) -> None:
    assert detect(name, value) == [], case


@pytest.mark.parametrize("name", NOT_SECRET_NAMES)
def test_names_about_secrets_are_not_secrets(name: str) -> None:
    assert detect(name, body(24, seed=9)) == []
    assert detect(name, "example") == []


@pytest.mark.parametrize("value", NOT_LITERALS)
def test_placeholders_under_secret_names_are_not_secrets(value: str) -> None:
    assert detect("DB_PASSWORD", value) == []
    assert detect("API_TOKEN", value) == []


def test_every_detector_has_a_positive_case() -> None:
    covered = {p[3] for p in POSITIVES}
    assert {d.id for d in DETECTORS} <= covered


def test_strongest_first_and_no_generic_where_a_format_matched() -> None:
    token = "ghp_" + body(36)
    assert _ids(detect("GITHUB_TOKEN", token)) == ["github-token"]
    assert _ids(detect("AWS_SECRET_ACCESS_KEY", body(40, B64))) == ["aws-secret-access-key"]


def test_pem_inside_gcp_json_is_reported_once() -> None:
    assert _ids(detect("creds.json", gcp_service_account())) == ["gcp-service-account"]


def test_same_secret_gives_same_fingerprint_and_different_ones_differ() -> None:
    a = detect("DB_PASSWORD", "example")[0]
    b = detect("MYSQL_PASSWORD", "example")[0]
    c = detect("DB_PASSWORD", "another")[0]
    assert a.fingerprint == b.fingerprint != c.fingerprint


class TestCompoundValues:
    def test_properties_file(self) -> None:
        text = f"server.port=8080\nspring.datasource.username=app\nspring.datasource.password={body(20)}\n"
        (m,) = detect("application.properties", text)
        assert (m.detector, m.field, m.line, m.confidence) == ("generic-random", "spring.datasource.password", 3, M)

    def test_dotenv_with_export_and_comments(self) -> None:
        text = "# local settings\nexport DB_HOST=db\nexport DB_PASSWORD=hunter2 # dev only\nDEBUG=true\n"
        (m,) = detect(".env", text)
        assert (m.field, m.line, m.confidence) == ("DB_PASSWORD", 3, L)

    def test_yaml_and_json_files(self) -> None:
        yaml_text = "database:\n  host: db\n  password: s3cr3tP4ss\n  password_file: /etc/db\n"
        assert [(m.field, m.line) for m in detect("config.yaml", yaml_text)] == [("password", 3)]
        json_text = '{\n  "user": "app",\n  "apiKey": "' + body(24) + '",\n  "timeout": 30\n}'
        assert [(m.field, m.confidence) for m in detect("config.json", json_text)] == [("apiKey", M)]

    def test_connection_string(self) -> None:
        (m,) = detect("ConnectionStrings__Default", "Server=db;Database=app;User Id=sa;Password=Xyz123!abc;")
        assert (m.field, m.line) == ("Password", 0)

    def test_jvm_options(self) -> None:
        (m,) = detect("JAVA_OPTS", "-Xmx512m -Dspring.datasource.password=hunter2 -Dfile.encoding=UTF-8")
        assert m.field == "spring.datasource.password"

    def test_script_in_a_configmap_is_not_a_secret(self) -> None:
        script = ("def valid(password):\n    token = get_token()\n    secret = settings.SECRET\n"
                  "    return len(password) >= 12\n")
        assert detect("password_validation.py", script) == []

    def test_quoted_literal_in_a_script_is_a_secret(self) -> None:
        (m,) = detect("settings.py", 'DEBUG = False\nSECRET_KEY = "' + body(40) + '"\n')
        assert (m.field, m.line, m.confidence) == ("SECRET_KEY", 2, M)

    def test_file_with_references_only(self) -> None:
        text = "db.password=${DB_PASSWORD}\ndb.password.file=/etc/secrets/db\napi.token=\n"
        assert detect("app.properties", text) == []

    def test_known_format_line_is_not_also_generic(self) -> None:
        text = f"github.token=ghp_{body(36)}\nother=1\n"
        assert _ids(detect("app.properties", text)) == ["github-token"]


class TestBounds:
    def test_oversized_value_is_skipped(self) -> None:
        big = pem() + "x" * MAX_VALUE
        assert detect("KEY", big) == []

    def test_only_the_first_part_is_scanned(self) -> None:
        late = "a" * MAX_SCAN + "ghp_" + body(36)
        assert detect(None, late) == []
        early = "ghp_" + body(36) + " " + "a" * MAX_SCAN
        assert _ids(detect(None, early)) == ["github-token"]

    def test_many_matches_are_capped(self) -> None:
        text = " ".join("ghp_" + body(36, seed=i) for i in range(200))
        assert 0 < len(detect(None, text)) <= 64

    def test_hostile_inputs_do_not_crash(self) -> None:
        for text in ("-----BEGIN RSA PRIVATE KEY-----" * 5000, "a://" + "u" * 300 + ":" * 300, ";=" * 50000,
                     "eyJ" + "a" * 5000 + "." * 3, "\n" * 50000, "\x00\ud800bad"):
            detect("DB_PASSWORD", text)
