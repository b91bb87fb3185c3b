"""faceprint.backends.landmarks."""
