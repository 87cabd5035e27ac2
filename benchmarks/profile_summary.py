"""Summarise a py-spy raw (collapsed) profile: top self-time frames and top inclusive frames, in percent."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def summarise(path: Path, top: int = 25) -> str:
    """Self and inclusive sample shares per function (file:function), idle frames included as sampled."""
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [f.split(" (")[0] + " " + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
                  for f in stack.split(";")]
        self_c[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    lines = [f"{total} samples", "-- self --"]
    lines += [f"{100 * c / total:5.1f}%  {f}" for f, c in self_c.most_common(top)]
    lines += ["-- inclusive --"] + [f"{100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25))
