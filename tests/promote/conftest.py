"""The sign tests' real registry, synthetic images and busybox image, shared with the promotion tests."""

from tests.sign.conftest import busybox, image, registry  # noqa: F401 - pytest fixtures re-exported
