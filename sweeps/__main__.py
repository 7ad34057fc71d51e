"""`python -m sweeps ...`: the same as the `sweep` command."""

from sweeps.cli import main

raise SystemExit(main())
