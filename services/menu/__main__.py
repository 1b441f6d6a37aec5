"""Composition root: `python -m services.menu`."""

from services.runtime.main import main

if __name__ == "__main__":
    raise SystemExit(main("menu"))
