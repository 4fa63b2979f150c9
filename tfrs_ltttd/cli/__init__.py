"""The `ltttd` command line."""

from tfrs_ltttd.cli.main import main
