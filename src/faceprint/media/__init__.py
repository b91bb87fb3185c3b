"""faceprint.media."""
