"""`python -m tfrs_ltttd.cli`: the `ltttd` command."""

import sys

from tfrs_ltttd.cli.main import main

sys.exit(main())
