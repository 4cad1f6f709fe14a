"""`python -m minibert ...` is the same as the `minibert` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
