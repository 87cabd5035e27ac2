"""`seqsignal bench`: the benchmark suite on the local stack; JSON and PNGs in benchmarks/results/."""

from __future__ import annotations

import json
import sys
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


def require_kafka() -> None:
    """Stop with the way out when no Kafka answers, instead of a timeout traceback in the middle of a run."""
    from kafka import KafkaAdminClient

    from seqsignal.workers.kafka import kafka_python_kwargs
    from seqsignal.workers.settings import load_settings

    kafka = load_settings().kafka
    try:
        kw = kafka_python_kwargs(kafka)
        probe = KafkaAdminClient(client_id="bench-probe", bootstrap_timeout_ms=5000, **kw)
        probe.close()
    except Exception as exc:  # kafka-python raises NoBrokersAvailable, a timeout or a connection error
        typer.echo(f"error: no Kafka answers at {kafka.bootstrap_servers} ({type(exc).__name__}). Start the "
                   "local stack with `seqsignal stack up` (or `make stack-up`), or measure the models only "
                   "with `seqsignal bench --no-e2e`.", err=True)
        raise typer.Exit(2) from exc


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Short run (under 5 minutes on 2 cores)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout")] = False,
    baseline: Annotated[Path | None, typer.Option(help="A previous result JSON: print ratios to it")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="Where JSON and PNGs go (default benchmarks/results)")]
    = None,
    no_e2e: Annotated[bool, typer.Option("--no-e2e", help="Micro-benchmarks only (no stack needed)")] = False,
) -> None:
    """Measure end to end (worker vs ceiling vs naive, side by side), the models, and Redis bytes per user.

    Needs the local stack (`seqsignal stack up`) unless --no-e2e; progress goes to stderr."""
    if not (ROOT / "benchmarks" / "run.py").is_file():
        raise typer.BadParameter(f"no benchmarks/ next to the package ({ROOT}); run from a checkout")
    if not no_e2e:
        require_kafka()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.run import RESULTS, compare, run

    result = run(quick, out_dir or RESULTS, skip_e2e=no_e2e)
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
