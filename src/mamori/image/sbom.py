"""SBOM documents: CycloneDX 1.6 JSON (cyclonedx-python-lib) and SPDX 2.3 JSON.

Both describe the image as the root component and every package with its purl, licence and the
layer it came from (as a property / comment).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from mamori import __version__
from mamori.image.catalog.model import Inventory, Package
from mamori.image.image import Image
from mamori.image.licences import licence, named

TOOL = "mamori"


def _image_name(image: Image) -> str:
    return image.name


def _layer_digest(image: Image, p: Package) -> str:
    if p.layer is None or p.layer >= len(image.layers):
        return ""
    layer = image.layers[p.layer]
    return layer.diff_id or layer.digest or ""


def prepare(fmt: str) -> None:
    """Import what writing ``fmt`` needs and load the licence tables, ahead of the inventory."""
    if fmt == "cyclonedx":
        import cyclonedx.model.bom
        import cyclonedx.output.json  # noqa: F401
        import packageurl  # noqa: F401

        from mamori.image import licences

        licences.prepare()
    else:
        from license_expression import get_spdx_licensing  # type: ignore[import-untyped]

        get_spdx_licensing()


def cyclonedx(image: Image, inv: Inventory) -> str:
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.dependency import Dependency
    from cyclonedx.model.license import LicenseExpression
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    root = Component(name=_image_name(image), type=ComponentType.CONTAINER, bom_ref="image",
                     version=image.digest or image.config.digest)
    if image.digest:
        root.hashes.add(HashType(alg=HashAlgorithm.SHA_256, content=image.digest.split(":", 1)[1]))
    bom = Bom()
    bom.metadata.component = root
    bom.metadata.tools.components.add(Component(name=TOOL, version=__version__, type=ComponentType.APPLICATION))
    if inv.os:
        os_c = Component(name=inv.os.id, version=inv.os.version_id or None, type=ComponentType.OPERATING_SYSTEM,
                         bom_ref="os", description=inv.os.pretty_name or None)
        bom.components.add(os_c)
    comps = []
    for i, p in enumerate(inv.packages):
        c = Component(name=p.name, version=p.version, type=ComponentType.LIBRARY, bom_ref=f"pkg-{i}",
                      purl=PackageURL.from_string(p.purl))
        if p.licenses:
            made = [licence(lic) for lic in p.licenses]
            if len(made) > 1 and any(isinstance(m, LicenseExpression) for m in made):
                made = [named(lic) for lic in p.licenses]  # CycloneDX: one expression, or licences
            c.licenses.update(made)
        props = [Property(name="mamori:package:type", value=p.type), Property(name="mamori:location", value=p.location)]
        if p.layer is not None:
            props.append(Property(name="mamori:layer:index", value=str(p.layer)))
            props.append(Property(name="mamori:layer:diff_id", value=_layer_digest(image, p)))
        if p.source_name and p.source_name != p.name:
            props.append(Property(name="mamori:package:source", value=p.source_name))
        if p.owner:
            props.append(Property(name="mamori:package:owned-by", value=p.owner))
        if p.source_version and p.source_version != p.version:
            props.append(Property(name="mamori:package:source-version", value=p.source_version))
        c.properties.update(props)
        comps.append(c)
    bom.components.update(comps)  # one sort, not an insertion (and its comparisons) per component
    # The graph register_dependency builds (the image needs every component, which need nothing), made
    # directly: it looks up each component among the dependencies registered so far, O(n²) comparisons.
    needed = ([os_c] if inv.os else []) + comps
    bom.dependencies.update([Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in needed]),
                             *(Dependency(ref=c.bom_ref) for c in needed)])
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


def _spdx_id(i: int) -> str:
    return f"SPDXRef-Package-{i}"


def _license(p: Package) -> str:
    """SPDX wants a valid expression; anything we cannot vouch for is NOASSERTION."""
    from license_expression import ExpressionError, get_spdx_licensing

    if not p.licenses:
        return "NOASSERTION"
    expr = " AND ".join(f"({x})" if " " in x else x for x in p.licenses)
    try:
        parsed = get_spdx_licensing().parse(expr, validate=True, strict=True)
    except ExpressionError:
        return "NOASSERTION"
    return str(parsed) if parsed is not None else "NOASSERTION"


def spdx(image: Image, inv: Inventory) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = _image_name(image)
    packages: list[dict[str, Any]] = [{
        "SPDXID": "SPDXRef-Image", "name": name, "versionInfo": image.digest or image.config.digest,
        "downloadLocation": "NOASSERTION", "filesAnalyzed": False, "primaryPackagePurpose": "CONTAINER",
        "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION",
    }]
    if image.digest:
        packages[0]["checksums"] = [{"algorithm": "SHA256", "checksumValue": image.digest.split(":", 1)[1]}]
    rels: list[dict[str, str]] = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                                   "relatedSpdxElement": "SPDXRef-Image"}]
    if inv.os:
        packages.append({"SPDXID": "SPDXRef-OperatingSystem", "name": inv.os.id,
                         "versionInfo": inv.os.version_id or "NOASSERTION", "downloadLocation": "NOASSERTION",
                         "filesAnalyzed": False, "primaryPackagePurpose": "OPERATING-SYSTEM",
                         "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION",
                         "copyrightText": "NOASSERTION"})
        rels.append({"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS",
                     "relatedSpdxElement": "SPDXRef-OperatingSystem"})
    for i, p in enumerate(inv.packages):
        comment = f"type={p.type}; location={p.location}" + (f"; owned-by={p.owner}" if p.owner else "")
        if p.layer is not None:
            comment += f"; layer={p.layer} {_layer_digest(image, p)}"
        pkg: dict[str, Any] = {
            "SPDXID": _spdx_id(i), "name": p.name, "versionInfo": p.version, "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False, "licenseConcluded": "NOASSERTION", "licenseDeclared": _license(p),
            "copyrightText": "NOASSERTION", "comment": comment,
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": p.purl}],
        }
        if p.source_name and p.source_name != p.name:
            pkg["sourceInfo"] = f"built from source package {p.source_name} {p.source_version or ''}".strip()
        packages.append(pkg)
        rels.append({"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS",
                     "relatedSpdxElement": _spdx_id(i)})
    doc = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": name,
        "documentNamespace": f"https://mamori.invalid/spdx/{uuid.uuid4()}",
        "creationInfo": {"created": now, "creators": [f"Tool: {TOOL}-{__version__}"]},
        "documentDescribes": ["SPDXRef-Image"],
        "packages": packages, "relationships": rels,
    }
    return json.dumps(doc, indent=2) + "\n"
