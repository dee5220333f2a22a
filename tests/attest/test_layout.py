"""The ``.att`` manifest parser and the copy descriptors refuse hostile shapes with a reason, never a traceback."""

from __future__ import annotations

import json

import pytest

from mamori.attest import layout
from mamori.attest.errors import AttestError
from mamori.image.errors import ImageError
from mamori.promote.copy import _descriptors

D = "sha256:" + "12" * 32


def _layer(**kw: object) -> dict[str, object]:
    return {"mediaType": layout.LAYER_TYPE, "digest": D, "size": 10,
            "annotations": {"predicateType": "https://cyclonedx.org/bom"}, **kw}


def test_att_tag_and_parse() -> None:
    assert layout.att_tag(D) == "sha256-" + "12" * 32 + ".att"
    with pytest.raises(ImageError):
        layout.att_tag("sha256:../../etc")
    doc = {"layers": [_layer(), {"mediaType": "application/other", "digest": "x"}, _layer(annotations=None)]}
    parsed = layout.parse_manifest(json.dumps(doc).encode())
    assert [p.predicate_type for p in parsed] == ["https://cyclonedx.org/bom", ""]  # other media types skipped


@pytest.mark.parametrize("doc, msg", [
    (b"{", "not JSON"),
    (b'{"layers": 3}', "no layers list"),
    (json.dumps({"layers": [_layer(size=-1)]}).encode(), "malformed"),
    (json.dumps({"layers": [_layer(digest="md5:00")]}).encode(), "attestation layer 0"),
    (json.dumps({"layers": [_layer(annotations={"predicateType": 7})]}).encode(), "annotation predicateType"),
    (json.dumps({"layers": [_layer()] * (layout.MAX_ATTESTATIONS + 1)}).encode(), "more than"),
])
def test_bad_att_manifests(doc: bytes, msg: str) -> None:
    with pytest.raises(AttestError, match=msg):
        layout.parse_manifest(doc)


def test_copy_descriptors_are_bounded() -> None:
    assert _descriptors({"layers": [{"digest": D, "size": 3}]}, "layers") == [(D, 3)]
    assert _descriptors({}, "layers") == []
    for bad in ({"layers": {}}, {"layers": [{"digest": D}]}, {"layers": [{"digest": "sha256:zz", "size": 1}]},
                {"manifests": [{"digest": D, "size": 1}] * 257}):
        with pytest.raises(ImageError):
            _descriptors(bad, "manifests" if "manifests" in bad else "layers")
