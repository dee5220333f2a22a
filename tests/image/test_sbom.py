"""SBOMs of a real Debian image, validated with the CycloneDX 1.6 schema and the SPDX tools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from mamori.image import load
from mamori.image.sbom import cyclonedx, cyclonedx_bom, spdx, write_cyclonedx
from tests.image.conftest import Forms


def test_cyclonedx_validates_and_lists_every_package(debian: Forms, tmp_path: Path) -> None:
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from cyclonedx.validation import make_schemabased_validator

    out = tmp_path / "bom.json"
    subprocess.run([".venv/bin/mamori", "image", "sbom", "--format", "cyclonedx", "-o", str(out),
                    f"oci-dir:{debian.oci}"], check=True, timeout=600, capture_output=True)
    text = out.read_text()
    err = make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_6).validate_str(text)
    assert err is None, str(err)
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6" and doc["metadata"]["component"]["type"] == "container"
    loaded = load(f"oci-dir:{debian.oci}")
    libs = [c for c in doc["components"] if c["type"] == "library"]
    assert sorted(c["purl"] for c in libs) == sorted(p.purl for p in loaded.inventory.packages)
    osc = [c for c in doc["components"] if c["type"] == "operating-system"]
    assert [(c["name"], c["version"]) for c in osc] == [("debian", "12")]
    bash = next(c for c in libs if c["name"] == "bash")
    props = {p["name"]: p["value"] for p in bash["properties"]}
    assert props["mamori:layer:diff_id"] == loaded.image.config.diff_ids[0]
    # the graph: the image needs the OS and every package, which need nothing; as register_dependency builds it
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    refs = sorted(c["bom-ref"] for c in doc["components"])
    assert sorted(deps) == sorted([*refs, "image"]) and sorted(deps.pop("image")) == refs
    assert all(not d for d in deps.values())
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    bom = Bom()
    root = Component(name="x", type=ComponentType.CONTAINER, bom_ref="image")
    bom.metadata.component = root
    comps = [Component(name=r, bom_ref=r) for r in refs]
    bom.components.update(comps)
    bom.register_dependency(root, comps)
    assert json.loads(JsonV1Dot6(bom).output_as_string())["dependencies"] == doc["dependencies"]


def test_cyclonedx_is_what_the_library_writer_writes(kitchen: Forms, debian: Forms) -> None:
    """write_cyclonedx skips the writer's validate() and graph merge: the document must not change."""
    from cyclonedx.output.json import JsonV1Dot6

    for forms in (kitchen, debian):
        loaded = load(f"oci-dir:{forms.oci}")
        bom = cyclonedx_bom(loaded.image, loaded.inventory)
        ours = json.loads(write_cyclonedx(bom))
        assert ours == json.loads(JsonV1Dot6(bom).output_as_string())
        assert list(ours)[:3] == ["$schema", "bomFormat", "specVersion"]
        assert len(ours["components"]) == len(loaded.inventory.packages) + 1 and len(ours["dependencies"]) > 1
        assert any("licenses" in c for c in ours["components"])


def test_cyclonedx_rejects_what_the_schema_forbids() -> None:
    """The validator is not a no-op: a component without a name fails."""
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from cyclonedx.validation import make_schemabased_validator

    bad = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                      "components": [{"type": "library", "version": "1"}]})
    assert make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_6).validate_str(bad) is not None


def test_spdx_validates(kitchen: Forms, debian: Forms, tmp_path: Path) -> None:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    for forms in (kitchen, debian):
        loaded = load(f"oci-dir:{forms.oci}")
        path = tmp_path / "doc.spdx.json"
        path.write_text(spdx(loaded.image, loaded.inventory))
        doc = parse_file(str(path))
        problems = validate_full_spdx_document(doc)
        assert problems == [], [p.validation_message for p in problems][:5]
        purls = sorted(ref.locator for pkg in doc.packages for ref in pkg.external_references)
        assert purls == sorted(p.purl for p in loaded.inventory.packages)
        assert cyclonedx(loaded.image, loaded.inventory)  # both writers on the same inventory
    # the Debian image: licences that are SPDX expressions are declared, source packages named
    raw = json.loads(path.read_text())
    assert raw["spdxVersion"] == "SPDX-2.3" and raw["dataLicense"] == "CC0-1.0"
    pkgs = {p["name"]: p for p in raw["packages"]}
    from license_expression import get_spdx_licensing

    # Debian's copyright names are mostly not SPDX ("GPL-2+"): those are NOASSERTION, never invented
    declared = [p["licenseDeclared"] for p in raw["packages"] if p["licenseDeclared"] != "NOASSERTION"]
    assert "Zlib" in declared and any(" AND " in d for d in declared)
    licensing = get_spdx_licensing()
    assert all(str(licensing.parse(d, validate=True, strict=True)) == d for d in declared)
    assert pkgs["adduser"]["licenseDeclared"] == "NOASSERTION"  # GPL-2+
    assert pkgs["libc6"]["sourceInfo"].startswith("built from source package glibc ")
    assert {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Image"} in raw["relationships"]
    from mamori.sources.sbom import parse_sbom

    assert parse_sbom(raw, "doc").os == ("debian", "12")  # mamori's own reader finds the release in it


def test_spdx_refuses_what_its_validator_refuses(kitchen: Forms) -> None:
    """spdx-tools validates before it writes: a package whose purl is not a purl is an error, not a file."""
    from dataclasses import replace

    import pytest

    from mamori.image.sbom import SbomError

    loaded = load(f"oci-dir:{kitchen.oci}")
    bad = replace(loaded.inventory, packages=[replace(loaded.inventory.packages[0], purl="not a purl")])
    with pytest.raises(SbomError, match="not valid"):
        spdx(loaded.image, bad)
