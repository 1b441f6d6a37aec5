"""`python -m bench.replyqueues`: see bench.replyqueues.cli."""

from bench.replyqueues.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
