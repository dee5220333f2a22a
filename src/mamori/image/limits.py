"""Bounds on everything read from an image, so a hostile one costs bounded memory, disk and time."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class Limits:
    max_manifest: int = 8 * MiB  # the spec asks registries to accept at least 4 MB
    max_config: int = 16 * MiB
    max_layers: int = 500
    max_layer_compressed: int = 8 * GiB
    max_layer_bytes: int = 16 * GiB  # uncompressed, per layer
    max_image_bytes: int = 64 * GiB  # uncompressed, all layers
    max_ratio: int = 200  # uncompressed / compressed, checked once past ratio_floor
    ratio_floor: int = 64 * MiB
    max_entries: int = 2_000_000  # tar members per layer
    max_path: int = 4096
    max_file_capture: int = 64 * MiB  # one package database or metadata file kept in memory
    max_capture_total: int = 768 * MiB  # all kept file contents together
    max_probe_file: int = 256 * MiB  # one binary or archive read to find embedded metadata
    max_refusals_kept: int = 1000
    max_archive: int = 64 * GiB  # a docker save stream spooled from the daemon
