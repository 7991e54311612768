"""`python3 -m pnpf_fem` is the `pnpf-fem` command."""

import sys

from pnpf_fem.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
