"""``python -m nephos``."""

from __future__ import annotations

from nephos.cli.main import main

if __name__ == "__main__":
    main()
