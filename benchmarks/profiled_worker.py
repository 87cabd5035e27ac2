"""`seqsignal worker` under cProfile (event-loop thread): stats dumped to $BENCH_PROFILE_OUT at exit."""

from __future__ import annotations

import cProfile
import os
import sys


def main() -> None:
    """Run the worker command exactly as the CLI does, profiled from start to SIGTERM."""
    from seqsignal import cli

    out = os.environ.get("BENCH_PROFILE_OUT", "worker.prof")
    sys.argv = ["seqsignal", "worker"]
    prof = cProfile.Profile()
    prof.enable()
    try:
        cli.main()
    finally:
        prof.disable()
        prof.dump_stats(out)


if __name__ == "__main__":
    main()
