"""`python -m contracts.asyncapi`: rewrite `contracts/asyncapi.json` from `contracts/`."""

import sys

from contracts.asyncapi.document import write

if __name__ == "__main__":
    sys.stdout.write(f"wrote {write()}\n")
