"""``python -m mrekit`` runs the command line."""

from mrekit.cli import main

main()
