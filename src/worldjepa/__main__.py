"""`python -m worldjepa`: the same as the `worldjepa` command."""

from .cli import main

raise SystemExit(main())
