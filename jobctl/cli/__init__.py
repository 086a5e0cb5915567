"""The `jobctl` command line, one module per verb group (see `jobctl.cli.main`)."""
