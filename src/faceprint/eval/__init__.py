"""faceprint.eval."""
