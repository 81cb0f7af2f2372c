"""Several `isyarat` commands run one after the other in one Python process, as `a && b` would:
the recorder's train button runs its `train && export` this way, so Python, torch and the
project's modules start once instead of twice (seconds of a one-minute job on 2 cores).

    python -m isyarat.cli.chain '[["train", "quick-words", ...], ["export", ...]]'

Before each command a line `step N/M: <command>` goes to standard error; the first command that
fails stops the chain and its exit status is the chain's."""
from __future__ import annotations

import json
import sys

from isyarat.cli.main import main as isyarat


def run_chain(steps: list[list[str]]) -> int:
    """Run each argument list through the `isyarat` command line; stop at the first failure."""
    for n, argv in enumerate(steps, 1):
        print(f"step {n}/{len(steps)}: {argv[0]}", file=sys.stderr, flush=True)
        status = isyarat(argv)
        if status:
            return status
    return 0


def parse_steps(text: str) -> list[list[str]]:
    steps = json.loads(text)
    if not (isinstance(steps, list) and steps and all(isinstance(s, list) and s and all(isinstance(a, str) for a in s)
                                                      for s in steps)):
        raise ValueError("give a JSON list of argument lists, e.g. '[[\"train\", ...], [\"export\", ...]]'")
    return steps


if __name__ == "__main__":
    try:
        chain = parse_steps(sys.argv[1] if len(sys.argv) == 2 else "")
    except ValueError as err:
        print(f"isyarat chain: error: {err}", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_chain(chain))
