"""`kubegym crds`: write (or check) the CustomResourceDefinitions generated from the models."""

from __future__ import annotations

from pathlib import Path

import click

from kubegym.api import crds as crd_gen
from kubegym.cli import common
from kubegym.errors import ConfigError


@click.command(context_settings=common.CONTEXT)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write one YAML per kind into. Without it, all CRDs go to stdout.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 when the files in --out differ from the models.",
)
def crds(out_dir: Path | None, check: bool) -> None:
    """Write the CustomResourceDefinitions generated from the models.

    \b
    Examples:
      kubegym crds --out crds/          # regenerate the committed CRDs
      kubegym crds --out crds/ --check  # fail when they are stale
      kubegym crds | kubectl apply -f -
    """
    rendered = {crd_gen.file_name(k): crd_gen.render(k) for k in crd_gen.KINDS}
    if out_dir is None:
        if check:
            raise ConfigError("--check needs --out, the folder to compare")
        click.echo("---\n".join(rendered.values()), nl=False)
        return
    if check:
        stale = [
            name
            for name, text in rendered.items()
            if not (out_dir / name).is_file() or (out_dir / name).read_text() != text
        ]
        if stale:
            raise ConfigError(
                f"stale CRDs in {out_dir}: {', '.join(stale)}",
                hint=f"run `kubegym crds --out {out_dir}`",
            )
        click.echo(f"{len(rendered)} CRDs in {out_dir} match the models")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out_dir / name).write_text(text)
        click.echo(f"wrote {out_dir / name}")
