"""Benchmark 2 of issue 6: the fan-out, SIGKILLed at random points and restarted (default 5).

Run: .venv/bin/python -m bench.crash [--n 10000] [--crash 5] [--seed 1] [--lease SECONDS]
Same options and figures as bench.fanout (this is bench.fanout with --crash 5 by default).
"""

from __future__ import annotations

import sys

from bench.fanout import main

if __name__ == "__main__":
    sys.exit(main(crash=5))
