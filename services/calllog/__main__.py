"""Composition root: `python -m services.calllog`."""

from services.runtime.main import main

if __name__ == "__main__":
    raise SystemExit(main("calllog"))
