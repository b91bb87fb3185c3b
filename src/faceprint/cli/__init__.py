"""faceprint.cli."""
