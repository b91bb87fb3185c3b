"""faceprint.backends.embedding."""
