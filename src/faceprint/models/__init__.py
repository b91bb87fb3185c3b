"""faceprint.models."""
