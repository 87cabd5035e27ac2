"""`seqsignal chaos`: the chaos soak (tests/support/chaos.py) on its own local stack; prints the table."""

from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parents[2]  # the checkout: tests/support lives next to seqsignal/


def chaos(
    actions: Annotated[int, typer.Option(help="Higgs actions to replay")] = 100_000,
    posts: Annotated[int, typer.Option(help="TweetEval posts to replay")] = 5_000,
    duration: Annotated[float, typer.Option(help="Seconds the replay of both streams is paced to last")]
    = 600.0,
    every: Annotated[float, typer.Option(help="Mean seconds between two faults")] = 10.0,
    min_faults: Annotated[int, typer.Option(help="Keep striking after the replay until this many")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the fault schedule")] = 0,
    partitions: Annotated[int, typer.Option(help="Partitions per input topic")] = 3,
    max_workers: Annotated[int, typer.Option(help="Most workers in the group at once")] = 3,
    work_dir: Annotated[Path | None, typer.Option(help="Stack, registry and worker logs (default: a "
                                                       "new temporary directory, kept)")] = None,
) -> None:
    """Replay ACTIONS + POSTS (+~1% malformed) into a 1-3 worker fleet on a fresh local stack while a
    seeded random fault strikes every ~EVERY s (worker SIGKILL, broker restart, Redis kill, rebalance);
    then check every input, dead letter, window and duplicate, and print the table. Exit 1 on a failure."""
    if not (ROOT / "tests" / "support" / "chaos.py").is_file():
        raise typer.BadParameter(f"no tests/support next to the package ({ROOT}); run from a checkout")
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    soak = importlib.import_module("support.chaos")
    where = work_dir or Path(tempfile.mkdtemp(prefix="seqsignal-chaos-"))
    typer.echo(f"chaos: stack, registry and worker logs in {where}", err=True)
    cfg = soak.ChaosConfig(
        work_dir=where, actions=actions, posts=posts, duration_s=duration, every_s=every,
        min_faults=min_faults, seed=seed, partitions=partitions, max_members=max_workers,
    )
    report = soak.run_chaos(cfg)
    typer.echo(report.table())
    if report.failures():
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("chaos")(chaos)
