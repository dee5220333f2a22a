"""PKCS#11 KEKs on a SoftHSM2 token: generated non-extractable, wrap/unwrap on the token, PIN-guarded."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.crypto import KeyUnavailable, seal_stream, unseal_stream
from mamori.crypto.keyring import Keyring
from mamori.crypto.pkcs11 import Pkcs11Error, Pkcs11Key, parse_uri
from mamori.secrets import Secret
from tests.components import unavailable

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "pl4nted-hsm-pin-6a1f"
TOKEN = "mamori-test"


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh SoftHSM2 token directory; SOFTHSM2_CONF is read when the module is first initialised."""
    util = shutil.which("softhsm2-util")
    if util is None or not os.path.exists(MODULE):
        unavailable("SoftHSM2", "Debian package softhsm2 is not installed (softhsm2-util, libsofthsm2.so)")
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        unavailable("python-pkcs11", "not installed in the venv")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run([util, "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "so-pin-1234"],
                   check=True, capture_output=True)
    try:
        yield TOKEN
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old


def key(label: str, pin: str = PIN) -> Pkcs11Key:
    return Pkcs11Key(TOKEN, label, Secret(pin), MODULE)


def test_generated_kek_is_sensitive_and_never_extractable(token: str) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType

    key("kek-attrs").generate()
    lib = pkcs11.lib(MODULE)
    with lib.get_token(token_label=token).open(user_pin=PIN) as session:
        kek = session.get_key(label="kek-attrs", key_type=KeyType.AES)
        assert kek[Attribute.SENSITIVE] and not kek[Attribute.EXTRACTABLE] and kek[Attribute.NEVER_EXTRACTABLE]
        with pytest.raises(pkcs11.PKCS11Error):
            kek[Attribute.VALUE]  # the token refuses to reveal it
    with pytest.raises(Pkcs11Error):
        key("kek-attrs").generate()  # no second object with the same label


def test_seal_unseal_on_the_token(token: str) -> None:
    k = key("kek-a")
    k.generate()
    out = io.BytesIO()
    seal_stream(io.BytesIO(b"hsm protected"), out, [k], context={"app": "db"})
    blob = out.getvalue()
    assert b'"mechanism":"CKM_AES_KEY_WRAP_PAD"' in blob
    back = io.BytesIO()
    unseal_stream(io.BytesIO(blob), back, [key("kek-a")], context={"app": "db"})
    assert back.getvalue() == b"hsm protected"


def test_wrong_pin_and_wrong_key(token: str) -> None:
    key("kek-b").generate()
    key("kek-c").generate()
    out = io.BytesIO()
    seal_stream(io.BytesIO(b"x"), out, [key("kek-b")])
    with pytest.raises(KeyUnavailable) as exc:
        unseal_stream(io.BytesIO(out.getvalue()), io.BytesIO(), [key("kek-b", pin="000000")])
    assert "wrong PIN" in str(exc.value) and "000000" not in str(exc.value)
    forged = out.getvalue().replace(b'"object":"kek-b"', b'"object":"kek-c"')
    with pytest.raises(KeyUnavailable):  # the recipient names the key and is checked against its id
        unseal_stream(io.BytesIO(forged), io.BytesIO(), [key("kek-c")])


def test_rewrap_from_keyring_to_hsm(token: str, ring: Keyring) -> None:
    from mamori.crypto import rewrap_stream

    key("kek-d").generate()
    out = io.BytesIO()
    seal_stream(io.BytesIO(b"moved to the HSM"), out, [ring.wrapper()])
    moved = io.BytesIO()
    rewrap_stream(io.BytesIO(out.getvalue()), moved, [ring.wrapper()], [key("kek-d")])
    back = io.BytesIO()
    unseal_stream(io.BytesIO(moved.getvalue()), back, [key("kek-d")])
    assert back.getvalue() == b"moved to the HSM"


def test_uri_parsing() -> None:
    attrs = parse_uri("pkcs11:token=my%20token;object=kek?module-path=/x.so&pin-source=file:/run/secrets/pin")
    assert attrs == {"token": "my token", "object": "kek", "module-path": "/x.so",
                     "pin-source": "file:/run/secrets/pin"}
    for bad in ("pkcs11:object=kek", "file:/x", "pkcs11:token=t;object"):
        with pytest.raises(Pkcs11Error):
            parse_uri(bad)


def test_missing_module_is_a_clear_error(tmp_path: Path) -> None:
    k = Pkcs11Key("t", "k", Secret("1234"), str(tmp_path / "nope.so"))
    with pytest.raises(Pkcs11Error) as exc:
        k.generate()
    assert "cannot load PKCS#11 module" in str(exc.value)
