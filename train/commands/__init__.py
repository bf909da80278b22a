"""The subcommands of `python -m train`: each module declares its parsers and holds their
handlers; train/cli.py puts them together (one parser, one dispatch table)."""

PROG = "python -m train"
