"""`python -m collector` runs the nodediag command."""

from collector.cli import main

main()
