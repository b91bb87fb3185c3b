"""faceprint: face detection, embedding, verification and identification."""

__version__ = "0.1.0"
