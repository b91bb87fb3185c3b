"""``python -m faceprint``: the command line."""

from faceprint.cli import main

main()
