"""Made-up credentials with the right shape, generated at test time.

Nothing here is a real key: bodies come from a seeded PRNG, so test files hold no
token-shaped literals that a repository secret scanner would (rightly) block.
"""

from __future__ import annotations

import base64
import json
import random
import string

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
BASE32 = string.ascii_uppercase + "234567"
HEX = "0123456789abcdef"


def body(n: int, alphabet: str = ALNUM, seed: int = 0) -> str:
    """A random string of ``n`` characters; different seeds give different strings."""
    rng = random.Random(f"{n}:{alphabet}:{seed}")
    return "".join(rng.choice(alphabet) for _ in range(n))


def pem(kind: str = "RSA PRIVATE KEY", lines: int = 6, seed: int = 0) -> str:
    rows = [body(64, B64, seed * 100 + i) for i in range(lines)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(rows) + f"\n-----END {kind}-----\n"


def b64url_json(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def jwt(header: object | None = None, seed: int = 0) -> str:
    head = b64url_json(header if header is not None else {"alg": "HS256", "typ": "JWT"})
    payload = b64url_json({"sub": body(10, string.digits, seed), "iat": 1700000000})
    return f"{head}.{payload}.{body(43, B64URL, seed)}"


def gcp_service_account(with_key: bool = True) -> str:
    doc: dict[str, str] = {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": body(40, HEX),
        "client_email": "svc@demo-project.iam.gserviceaccount.com",
    }
    if with_key:
        doc["private_key"] = pem("PRIVATE KEY")
    return json.dumps(doc, indent=2)


def windows(text: str, size: int = 6) -> set[str]:
    """Every substring of ``text`` of ``size`` characters (to prove none is ever printed)."""
    return {text[i:i + size] for i in range(max(0, len(text) - size + 1))}
