"""`python -m edgecomp` is the `edgecomp` console command."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
