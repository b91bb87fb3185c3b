"""faceprint.media: turning encoded images into upright RGB arrays.

See :mod:`faceprint.media.images`.
"""

from faceprint.media.images import (
    DECODED_FORMATS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_SIDE,
    IMAGE_SUFFIXES,
    DecodedImage,
    decode_image,
    find_images,
    load_image,
)

__all__ = [
    "DECODED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_SIDE",
    "IMAGE_SUFFIXES",
    "DecodedImage",
    "decode_image",
    "find_images",
    "load_image",
]
