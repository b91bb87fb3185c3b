"""faceprint.core."""
