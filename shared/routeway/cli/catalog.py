"""`routeway catalog ...`: refresh (with progress and a diff), status, history, rollback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from routeway.cli.common import console, fail, gateway_from_env, print_json
from routeway.errors import GatewayError

if TYPE_CHECKING:
    from routeway.gateway import Gateway
    from routeway.ports import CatalogSource

catalog_app = typer.Typer(help="The model catalog: refresh it, see what is live, go back.", no_args_is_help=True)
EXIT_REFUSED = 2
REFRESH_DEADLINE_S = 240.0


def _source(gateway: Gateway, source: str) -> CatalogSource:
    if source == "openrouter":
        return gateway.sources.openrouter(deadline_s=REFRESH_DEADLINE_S)
    return gateway.sources.directory(Path(source))


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    diff = report.get("diff") or {}
    if diff.get("by_modality"):
        table = Table("output modalities", "added", "removed", "repriced", title="changes")
        for group, counts in sorted(diff["by_modality"].items()):
            table.add_row(group, str(counts["added"]), str(counts["removed"]), str(counts["repriced"]))
        out.print(table)
    if diff:
        for kind, mark in (("added", "+"), ("removed", "-"), ("repriced", "~")):
            for model_id in diff[kind]:
                out.print(f"{mark} {kind} {model_id}", highlight=False, markup=False)
        out.print(f"+{len(diff['added'])} added, -{len(diff['removed'])} removed, ~{len(diff['repriced'])} repriced")
    out.print(f"{report['outcome']}: version {report['version']} ({report['model_count']} models)")


def _finish(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(report)
    if report["outcome"] == "refused":
        typer.echo(f"refused: {report['reason']}", err=not as_json)
        raise typer.Exit(EXIT_REFUSED)
    if report["outcome"] == "failed":
        fail("refresh_failed", str(report["reason"]))
    if not as_json:
        _print_report(report)


@catalog_app.command("refresh")
def refresh(
    source: Annotated[str, typer.Option(help="'openrouter' or a folder of OpenRouter JSON responses.")] = "openrouter",
    force: Annotated[bool, typer.Option("--force", help="Publish even if a modality group drops sharply.")] = False,
    max_drop: Annotated[float, typer.Option(help="Largest share of a modality group that may vanish.")] = 0.2,
    as_json: Annotated[bool, typer.Option("--json", help="Print the refresh report as JSON.")] = False,
) -> None:
    """Fetch every output modality and every model's endpoints, validate, and publish.

    Example: routeway catalog refresh --source ../shared/data/openrouter
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from routeway.services.refresh import refresh_catalog

    if not 0 <= max_drop <= 1:
        fail("invalid_request", "--max-drop is a share between 0 and 1")
    gateway = gateway_from_env()

    async def run() -> dict[str, Any]:
        with Progress(
            TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), disable=as_json, transient=True
        ) as bar:
            tasks: dict[str, Any] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            try:
                report = await refresh_catalog(
                    gateway, _source(gateway, source), force=force, max_drop=max_drop, progress=progress
                )
            finally:
                await gateway.upstreams.aclose()
        return report.as_dict()

    _finish(asyncio.run(run()), as_json)


@catalog_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What is live: version, creation time, model count, and whether it comes from the store or the bundle."""
    from routeway.services.info import InfoService

    gateway = gateway_from_env()
    try:
        summary = InfoService(gateway).readiness(gateway.catalog.current_blocking())["catalog"]
    except GatewayError as exc:
        fail(exc.code, exc.message)
    if as_json:
        print_json(summary)
        return
    typer.echo(
        f"live: {summary['version']} ({summary['source']}), created {summary['created_at']}, "
        f"{summary['model_count']} models"
        + ("" if summary["store_reachable"] is not False else f"; store unreachable: {summary['store_error']}")
    )
    for task, ids in summary["missing_pool_entries"].items():
        typer.echo(f"auto pool {task}: not in the live catalog, skipped: {', '.join(ids)}")


@catalog_app.command("history")
def history(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every published version, newest first, with the live one marked."""
    gateway = gateway_from_env()
    try:
        pointer = gateway.state.sync.get_pointer()
        versions = gateway.state.sync.list_history()
    except GatewayError as exc:
        fail(exc.code, exc.message)
    live = pointer.version if pointer else None
    rows: list[dict[str, Any]] = [
        {"version": v.version, "created_at": v.created_at, "model_count": v.model_count, "live": v.version == live}
        for v in versions
    ]
    if as_json:
        print_json({"versions": rows})
        return
    from rich.table import Table

    table = Table("version", "created", "models", "live")
    for row in rows:
        table.add_row(row["version"], row["created_at"], str(row["model_count"]), "*" if row["live"] else "")
    console().print(table)
    if not rows:
        typer.echo("nothing published yet: the bundled snapshot is serving")


@catalog_app.command("rollback")
def rollback(
    version: Annotated[str, typer.Argument(help="A version from `routeway catalog history`.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make an earlier published version live again (snapshots are never overwritten)."""
    from routeway.services.refresh import rollback as rollback_to

    _finish(asyncio.run(rollback_to(gateway_from_env(), version)).as_dict(), as_json)
