"""`python -m nodediag` runs the nodediag command."""

from nodediag.cli import main

main()
