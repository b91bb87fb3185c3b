"""faceprint.gallery."""
