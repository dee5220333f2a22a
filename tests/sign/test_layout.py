"""The ``.sig`` manifest parser refuses hostile manifests with a clear error and ignores foreign layers."""

from __future__ import annotations

import json

import pytest

from mamori.sign import layout
from mamori.sign.errors import SignError

D = "sha256:" + "ef" * 32


def layer(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"mediaType": layout.LAYER_TYPE, "digest": D, "size": 10,
                               "annotations": {layout.SIG_ANNOTATION: "c2ln"}}
    base.update(kw)
    return base


def test_tag_and_round_trip() -> None:
    assert layout.sig_tag(D) == "sha256-" + "ef" * 32 + ".sig"
    with pytest.raises(Exception, match="invalid digest"):
        layout.sig_tag("sha256:../../x")
    cfg = layout.config_blob([D])
    man = layout.build_manifest("sha256:" + "00" * 32, len(cfg), [layer(), {"mediaType": "other/type"}])
    [only] = layout.parse_manifest(man)
    assert only.signature == "c2ln" and only.certificate is None and only.digest == D
    assert json.loads(cfg)["rootfs"]["diff_ids"] == [D]


@pytest.mark.parametrize(("doc", "message"), [
    ("not json", "not JSON"),
    ({"layers": "x"}, "no layers"),
    ([], "no layers"),
    ({"layers": [layer()] * (layout.MAX_SIGNATURES + 1)}, "more than"),
    ({"layers": [layer(digest="sha256:zz")]}, "invalid digest"),
    ({"layers": [layer(size=-1)]}, "malformed"),
    ({"layers": [layer(annotations={layout.SIG_ANNOTATION: 5})]}, "malformed"),
    ({"layers": [layer(annotations={layout.CERT_ANNOTATION: "x" * (layout.MAX_ANNOTATION + 1)})]}, "malformed"),
    ({"layers": [layer(annotations=[])]}, "malformed"),
])
def test_hostile_manifests(doc: object, message: str) -> None:
    data = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
    with pytest.raises(SignError, match=message):
        layout.parse_manifest(data)
