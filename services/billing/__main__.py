"""Composition root: `python -m services.billing`."""

from services.runtime.main import main

if __name__ == "__main__":
    raise SystemExit(main("billing"))
