"""faceprint.backends.detection."""
