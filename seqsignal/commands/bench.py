"""`seqsignal bench`: the benchmark suite on the local stack; JSON and PNGs in benchmarks/results/."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

ROOT = Path(__file__).resolve().parents[2]  # the checkout: benchmarks/ lives next to seqsignal/


def _table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"seqsignal bench ({'quick' if result['meta']['quick'] else 'full'}), load "
                        f"{result['meta']['loadavg_before'][0]} -> {result['meta']['loadavg_after'][0]}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    table.add_column("vs baseline", justify="right")
    ratios = result.get("baseline", {}).get("ratios", {})
    targets = result.get("targets", {})
    for key, value in result.items():
        if isinstance(value, dict | list) or key in ("meta", "details"):
            continue
        t = targets.get(key, {})
        verdict = "met" if t.get("met") else "MISSED" if t.get("met") is False else "?"
        met = f"{t['target']} {verdict}" if t else ""
        table.add_row(key, f"{value:,}" if isinstance(value, int | float) else str(value), met,
                      f"x{ratios[key]}" if key in ratios else "")
    Console(stderr=True).print(table)


def kafka_error() -> tuple[str, Exception | None]:
    """(the configured bootstrap servers, None when a broker answers there, else the probe's error)."""
    from kafka import KafkaAdminClient

    from seqsignal.workers.kafka import kafka_python_kwargs
    from seqsignal.workers.settings import load_settings

    kafka = load_settings().kafka
    try:
        kw = kafka_python_kwargs(kafka)
        KafkaAdminClient(client_id="bench-probe", bootstrap_timeout_ms=5000, **kw).close()
    except Exception as exc:  # kafka-python raises NoBrokersAvailable, a timeout or a connection error
        return kafka.bootstrap_servers, exc
    return kafka.bootstrap_servers, None


def _no_kafka(servers: str, exc: BaseException, why: str) -> typer.Exit:
    typer.echo(f"error: no Kafka answers at {servers} ({type(exc).__name__}){why}. Start the local stack "
               "with `seqsignal stack up` (or `make stack-up`), or measure the models only with "
               "`seqsignal bench --no-e2e`.", err=True)
    return typer.Exit(2)


@contextlib.contextmanager
def stack_for_bench(auto: bool) -> Iterator[Path | None]:
    """A broker for the run: the configured one when it answers; else, unless an address was given
    explicitly (SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS) or auto is off, a local stack of its own in a temporary
    run dir, whose connection settings the run (and its subprocesses) inherit, stopped after the run.
    Yields that run dir (None when the bench uses a stack it found)."""
    servers, exc = kafka_error()
    if exc is None:
        yield None
        return
    if not auto or "SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS" in os.environ:
        raise _no_kafka(servers, exc, " (given explicitly)" if auto else "")
    from seqsignal.deploy.local import stack

    run_dir = Path(tempfile.mkdtemp(prefix="seqsignal-bench-stack-"))
    typer.echo(f"no stack answers at {servers}: starting one for this run in {run_dir} (stopped after)",
               err=True)
    saved = dict(os.environ)
    try:
        try:
            state, _ = stack.up(stack.StackSettings(dir=run_dir), run_dir)
        except Exception as err:  # no Java, no redis-server, a port taken: the way out, not a traceback
            typer.echo(f"stack up failed: {err}", err=True)
            raise _no_kafka(servers, exc, "; starting a local stack failed") from err
        os.environ.update(state.env())
        yield run_dir
    finally:
        os.environ.clear()
        os.environ.update(saved)
        report = stack.down(run_dir)
        typer.echo(f"bench stack stopped ({report})", err=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Short run (under 5 minutes on 2 cores)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout")] = False,
    baseline: Annotated[Path | None, typer.Option(help="A previous result JSON: print ratios to it")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="Where JSON and PNGs go (default benchmarks/results)")]
    = None,
    no_e2e: Annotated[bool, typer.Option("--no-e2e", help="Micro-benchmarks only (no stack needed)")] = False,
    auto_stack: Annotated[bool, typer.Option(
        "--auto-stack/--no-auto-stack",
        help="When no Kafka answers (and none was given in SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS), start a "
             "local stack for the run and stop it after")] = True,
) -> None:
    """Measure end to end (worker vs ceiling vs naive, side by side), the models, and Redis bytes per user.

    Uses the running local stack, or starts its own for the run (see --auto-stack); progress on stderr."""
    if not (ROOT / "benchmarks" / "run.py").is_file():
        raise typer.BadParameter(f"no benchmarks/ next to the package ({ROOT}); run from a checkout")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.run import RESULTS, compare, run

    with contextlib.nullcontext(None) if no_e2e else stack_for_bench(auto_stack) as own:
        result = run(quick, out_dir or RESULTS, skip_e2e=no_e2e)
    result["meta"]["own_stack"] = own is not None
    if baseline is not None:
        previous = json.loads(baseline.read_text())
        result["baseline"] = {"file": str(baseline), "ratios": compare(result, previous)}
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _table(result)
        typer.echo(f"results: {result['meta']['json']} (plots: {', '.join(result['meta']['plots'])})")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
