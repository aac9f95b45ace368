"""Entry point of ``python -m distributor_rollout``."""

from __future__ import annotations

import sys

from distributor_rollout.cli import main

if __name__ == "__main__":
    sys.exit(main())
