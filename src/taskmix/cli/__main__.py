"""`python -m taskmix.cli`: the command line."""

from taskmix.cli.main import main

main()
