"""faceprint.backends."""
