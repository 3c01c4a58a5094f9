"""`python -m pump` is the `pump` command."""

import sys

from pump.cli import main

sys.exit(main())
