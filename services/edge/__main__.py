"""Composition root: `python -m services.edge`."""

from services.edge.main import main

if __name__ == "__main__":
    raise SystemExit(main())
