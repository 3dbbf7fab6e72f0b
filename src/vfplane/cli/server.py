"""``vfplane server`` and ``vfplane bootstrap``: the API process and its first accounts."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

import typer
import uvicorn
import yaml
from sqlalchemy import Engine

from vfplane import logs
from vfplane.api.app import create_app
from vfplane.api.deps import ApiDependencies, utc_now
from vfplane.cli.errors import reported_errors
from vfplane.cli.log_option import LOG_FORMAT_OPTION, LogFormat
from vfplane.db import migrate
from vfplane.db.engine import make_engine, make_session_factory
from vfplane.service.identity import Account, bootstrap_accounts
from vfplane.service.images import ensure_default_image
from vfplane.settings import Settings, load_settings

CLOUDS = {"admin": "vfplane-admin", "demo": "vfplane-demo"}
LOG = logging.getLogger(__name__)  # its lines go where the server's go (text or JSON)


def _settings(config: Path | None, data_dir: Path | None) -> Settings:
    settings = load_settings(config, os.environ)
    if data_dir is not None:
        server = settings.server.model_copy(update={"data_dir": data_dir})
        settings = settings.model_copy(update={"server": server})
    return settings


def open_database(settings: Settings) -> Engine:
    """The engine for ``settings``, its schema migrated to the newest revision."""
    if settings.database.url is None:
        settings.server.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url())
    migrate.upgrade(engine)
    return engine


def build_api(settings: Settings, engine: Engine) -> Any:
    deps = ApiDependencies.from_settings(settings, make_session_factory(engine))
    return create_app(deps)


def server(
    config: Path | None = typer.Option(
        None,
        "--config",
        envvar="VFPLANE_CONFIG",
        help="vfplane.toml (\\[server], \\[database], …).",
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Overrides \\[server] data_dir."),
    log_format: LogFormat | None = LOG_FORMAT_OPTION,
) -> None:
    """Run the API server (Keystone, Neutron, Nova, Glance compatible and /v1)."""
    with reported_errors():
        settings = _settings(config, data_dir)
        engine = open_database(settings)
        app = build_api(settings, engine)
    logs.configure(settings.logging, log_format)  # after the checks: a bad config is one line
    LOG.info("vfplane server on %s (database migrated)", settings.server.public_base())
    uvicorn.run(
        app,
        host=settings.server.bind,
        port=settings.server.port,
        log_config=None,  # uvicorn's lines go through the root handler (text or JSON) too
        access_log=False,  # the RequestIds middleware logs each request with its id
    )


def _known_passwords(path: Path) -> dict[str, str]:
    try:
        clouds = yaml.safe_load(path.read_text())["clouds"]
        return {user: clouds[cloud]["auth"]["password"] for user, cloud in CLOUDS.items()}
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return {}


def clouds_yaml(accounts: list[Account], auth_url: str, region: str) -> dict[str, Any]:
    clouds = {
        CLOUDS[a.user]: {
            "auth": {
                "auth_url": auth_url,
                "username": a.user,
                "password": a.password,
                "project_name": a.project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": region,
            "identity_api_version": 3,
            "interface": "public",
        }
        for a in accounts
    }
    return {"clouds": clouds}


def write_clouds_yaml(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(content, handle, sort_keys=False)


def bootstrap_data_dir(settings: Settings, admin_password: str | None = None) -> Path:
    """Migrate the database, create roles, projects and users, write clouds.yaml."""
    data_dir = settings.server.data_dir
    clouds_path = data_dir / "clouds.yaml"
    known = _known_passwords(clouds_path)
    engine = open_database(settings)
    with make_session_factory(engine)() as session:
        accounts = bootstrap_accounts(
            session,
            admin_password or known.get("admin") or secrets.token_urlsafe(18),
            known.get("demo") or secrets.token_urlsafe(18),
        )
        ensure_default_image(session, utc_now(), data_dir)
    engine.dispose()
    auth_url = f"{settings.server.public_base()}/identity/v3"
    write_clouds_yaml(clouds_path, clouds_yaml(list(accounts), auth_url, settings.identity.region))
    return clouds_path


def bootstrap(
    data_dir: Path = typer.Option(..., "--data-dir", help="Where the database and clouds.yaml go."),
    config: Path | None = typer.Option(None, "--config", envvar="VFPLANE_CONFIG"),
    admin_password: str | None = typer.Option(
        None, "--admin-password", envvar="VFPLANE_ADMIN_PASSWORD", help="Default: generated."
    ),
) -> None:
    """Create the admin and demo accounts and write DATA_DIR/clouds.yaml."""
    with reported_errors():
        settings = _settings(config, data_dir)
        path = bootstrap_data_dir(settings, admin_password)
    typer.echo(f"wrote {path} with clouds {', '.join(CLOUDS.values())}")
    typer.echo(f"try: OS_CLIENT_CONFIG_FILE={path} openstack --os-cloud vfplane-admin token issue")
