"""Model versions in SQL: which trained model directory each asset uses.

A version is a model directory (weights + card) registered for an (asset, kind); exactly one version
per (asset, kind) is active (a partial unique index enforces it). Every change bumps a per-row
counter, so the sum of the counters, `generation()`, is a cheap number the daemon polls to notice
activations made by `monitor models activate` or another worker, and hot-reload.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from monitor.store.tables import Asset, ModelVersion

if TYPE_CHECKING:
    from models.image_ae_model import ImageAnomalyModel
    from models.sensor_model import SensorModel
    from models.sr_model import SuperResolutionModel
    from models.unet_model import SegmentationModel

    LoadedModel = SensorModel | ImageAnomalyModel | SegmentationModel | SuperResolutionModel

Target = Engine | Session

# Registry kind (what `model_versions.kind` and `--kind` say) by the `kind` a model card names.
KIND_OF_CARD = {"sensor-ae": "sensor", "image-ae": "image-ae", "unet": "unet", "sr": "sr"}


class RegistryError(LookupError):
    """An unknown asset or version, or a version registered twice; phrased for the operator."""


@dataclass(frozen=True, slots=True)
class ModelVersionInfo:
    asset: str
    kind: str
    version: str
    path: Path
    active: bool
    created_at: datetime
    metrics: dict[str, Any]
    card: dict[str, Any]


@contextmanager
def _connection(target: Target) -> Iterator[Connection]:
    """An engine gets its own transaction; a session's transaction is the caller's to commit."""
    if isinstance(target, Session):
        yield target.connection()
    else:
        with target.begin() as conn:
            yield conn


def register(
    target: Target,
    asset: str,
    kind: str,
    directory: Path,
    card: dict[str, Any],
    *,
    activate: bool | None = None,
    now: datetime | None = None,
) -> str:
    """Record a trained model directory as a new version of (asset, kind); returns the version.

    The version is the card's `version`, else the next free `v<n>`. The first version of an
    (asset, kind) becomes active by itself; later ones only with `activate=True`.
    """
    now = now or datetime.now(UTC)
    with _connection(target) as conn:
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(Asset)
        conn.execute(
            insert.values(
                name=asset, kind="sensor" if kind == "sensor" else "camera", channels=[], created_at=now
            ).on_conflict_do_nothing(index_elements=["name"])
        )
        taken = set(
            conn.execute(
                sa.select(ModelVersion.version).where(ModelVersion.asset == asset, ModelVersion.kind == kind)
            ).scalars()
        )
        version = str(card.get("version") or _next_version(taken))
        if version in taken:
            raise RegistryError(f"{asset} already has version {version} of its {kind} model")
        path = str(Path(directory).resolve())
        holder = conn.execute(
            sa.select(ModelVersion.version).where(
                ModelVersion.asset == asset, ModelVersion.kind == kind, ModelVersion.path == path
            )
        ).scalar()
        if holder is not None:
            raise RegistryError(
                f"{path} is {asset}'s {kind} model version {holder} already: a new version needs a "
                "folder of its own (or there is nothing to roll back to)"
            )
        has_active = conn.execute(
            sa.select(ModelVersion.id).where(
                ModelVersion.asset == asset, ModelVersion.kind == kind, ModelVersion.active
            )
        ).first()
        conn.execute(
            sa.insert(ModelVersion).values(
                asset=asset,
                kind=kind,
                version=version,
                path=path,
                card=card,
                metrics=card.get("metrics") or {},
                active=False,
                change_count=1,
                created_at=now,
            )
        )
        if activate or (activate is None and has_active is None):
            _activate(conn, asset, kind, version)
    return version


def load_model(kind: str, directory: Path, device: str = "auto") -> LoadedModel:
    """Load a registered model directory of a registry kind, checking its card and file hashes.

    The model classes are imported here, so reading the registry (the dashboard does) needs no torch.
    """
    if kind == "sensor":
        from models.sensor_model import SensorModel

        return SensorModel.load(directory, device)
    if kind == "image-ae":
        from models.image_ae_model import ImageAnomalyModel

        return ImageAnomalyModel.load(directory, device)
    if kind == "unet":
        from models.unet_model import SegmentationModel

        return SegmentationModel.load(directory, device)
    if kind == "sr":
        from models.sr_model import SuperResolutionModel

        return SuperResolutionModel.load(directory, device)
    raise RegistryError(f"unknown model kind {kind!r} (kinds: {', '.join(KIND_OF_CARD.values())})")


def _next_version(taken: set[str]) -> str:
    number = len(taken) + 1
    while f"v{number}" in taken:
        number += 1
    return f"v{number}"


def list_versions(target: Target, asset: str | None = None) -> list[ModelVersionInfo]:
    """All versions (of one asset if given), by asset, kind and registration time."""
    with _connection(target) as conn:
        return _versions(conn, asset)


def _versions(conn: Connection, asset: str | None) -> list[ModelVersionInfo]:
    query = sa.select(ModelVersion).order_by(ModelVersion.asset, ModelVersion.kind, ModelVersion.created_at)
    if asset is not None:
        query = query.where(ModelVersion.asset == asset)
    return [_info(row) for row in conn.execute(query)]


def active_version(target: Target, asset: str, kind: str) -> ModelVersionInfo | None:
    """The version the daemon should load for (asset, kind), or None before any is registered."""
    query = sa.select(ModelVersion).where(
        ModelVersion.asset == asset, ModelVersion.kind == kind, ModelVersion.active
    )
    with _connection(target) as conn:
        row = conn.execute(query).first()
    return _info(row) if row is not None else None


def activate(target: Target, asset: str, version: str, kind: str | None = None) -> ModelVersionInfo:
    """Make `version` the active one of its (asset, kind); the previously active one is deactivated."""
    with _connection(target) as conn:
        if conn.execute(sa.select(Asset.id).where(Asset.name == asset)).first() is None:
            raise RegistryError(f"unknown asset {asset!r}")
        query = sa.select(ModelVersion.kind).where(
            ModelVersion.asset == asset, ModelVersion.version == version
        )
        if kind is not None:
            query = query.where(ModelVersion.kind == kind)
        kinds = list(conn.execute(query).scalars())
        if not kinds:
            known = ", ".join(v.version for v in _versions(conn, asset)) or "none"
            raise RegistryError(f"{asset} has no model version {version!r} (versions: {known})")
        if len(kinds) > 1:
            raise RegistryError(
                f"{asset} has version {version!r} of several kinds ({', '.join(kinds)}): give --kind"
            )
        _activate(conn, asset, kinds[0], version)
        row = conn.execute(
            sa.select(ModelVersion).where(
                ModelVersion.asset == asset, ModelVersion.kind == kinds[0], ModelVersion.version == version
            )
        ).one()
    return _info(row)


def generation(target: Target) -> int:
    """A number that grows with every registration or activation: poll it to know when to reload."""
    with _connection(target) as conn:
        return int(
            conn.execute(sa.select(sa.func.coalesce(sa.func.sum(ModelVersion.change_count), 0))).scalar_one()
        )


def _activate(conn: Connection, asset: str, kind: str, version: str) -> None:
    same = sa.and_(ModelVersion.asset == asset, ModelVersion.kind == kind)
    bump = ModelVersion.change_count + 1
    # Deactivate first: the one-active index must hold after each statement.
    conn.execute(
        sa.update(ModelVersion)
        .where(same, ModelVersion.active, ModelVersion.version != version)
        .values(active=False, change_count=bump)
    )
    conn.execute(
        sa.update(ModelVersion)
        .where(same, ModelVersion.version == version, sa.not_(ModelVersion.active))
        .values(active=True, change_count=bump)
    )


def _info(row: Any) -> ModelVersionInfo:
    return ModelVersionInfo(
        asset=row.asset,
        kind=row.kind,
        version=row.version,
        path=Path(row.path),
        active=bool(row.active),
        created_at=row.created_at,
        metrics=dict(row.metrics or {}),
        card=dict(row.card or {}),
    )
