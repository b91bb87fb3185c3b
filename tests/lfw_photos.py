"""Real LFW photos for tests of pure image code, and a motion blur at a chosen angle."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.shared_paths import LFW

from faceprint.core.degradation import motion_kernel
from faceprint.media.images import load_image
from faceprint.types import ImageArray

BOX = (75.0, 70.0, 175.0, 190.0)  # the face in a 250×250 LFW photo
_CACHE: dict[str, ImageArray] = {}


def photo(person: str) -> ImageArray:
    """The person's first LFW photo in the shared set (RGB uint8, 250×250); skips when
    LFW is absent."""
    if person not in _CACHE:
        if not (LFW / "images").is_dir():
            pytest.skip(f"LFW not found at {LFW}")
        found = sorted((LFW / "images" / person).glob("*.jpg"))
        assert found, f"no LFW photo of {person}"
        _CACHE[person] = load_image(found[0])
    return _CACHE[person]


def motion_blurred(image: ImageArray, length: float, angle: float) -> ImageArray:
    """Linear motion blur as :mod:`faceprint.eval.degrade` applies it, at a chosen angle."""
    out = cv2.filter2D(
        image.astype(np.float32), -1, motion_kernel(length, angle), borderType=cv2.BORDER_REFLECT
    )
    return np.ascontiguousarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))
