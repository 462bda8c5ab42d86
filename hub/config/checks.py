"""The checks that span sections of a validated config: truth and jobs against the connectors they name.

pydantic validates each section alone; these say what only the whole file shows (a job whose
target is not defined, a target that cannot write the entity of an ``enforce`` job, a rule for a
connector that is not a target), each as a located problem, all collected before any is raised.
"""

from __future__ import annotations

from hub.config.models import HubConfig, JobConfig
from hub.config.yamlio import Located
from hub.errors import ConfigProblem
from hub.model.base import Entity
from hub.model.records import ENTITY_MODELS
from hub.plugins.contract import Capability, ConnectorSettings
from hub.plugins.registry import connector_class

__all__ = ["check_references"]


def check_references(
    located: Located, model: HubConfig, connectors: dict[str, ConnectorSettings], problems: list[ConfigProblem]
) -> None:
    """Append to ``problems`` every reference of ``truth:`` and ``jobs:`` that the rest of the file
    does not satisfy. ``connectors`` holds the entries that validated (a broken one is already a
    problem, and is not reported again here)."""
    for entity, name in model.truth.items():
        if name not in model.connectors:
            problems.append(located.problem(("truth", entity.value), f"unknown connector {name!r}"))
    for job_name, job in model.jobs.items():
        where = ("jobs", job_name)
        source = job.source or model.truth.get(job.entity)
        if source is None:
            problems.append(
                located.problem(
                    where,
                    f"no source of truth for {job.entity.value}: add "
                    f"`truth: {{{job.entity.value}: <connector>}}` or `source:`",
                )
            )
        _check_readers(located, model, connectors, where, job, source, problems)
        _check_writers(located, connectors, where, job, problems)
        if source in job.targets and job.entity is not Entity.customers:
            # Customers are the exception: the CRM is the truth for the profile, but an unsubscribe
            # made anywhere else must reach it too, so the source may be a target of its own job.
            problems.append(located.problem((*where, "targets"), f"{source!r} is the source of truth and a target"))
        for name in job.rules:
            if name not in job.targets:
                problems.append(located.problem((*where, "rules", name), f"{name!r} is not one of this job's targets"))
        _check_fields(located, where, job, problems)
        _check_order_readers(located, model, connectors, where, job, problems)


def _check_readers(
    located: Located,
    model: HubConfig,
    connectors: dict[str, ConnectorSettings],
    where: tuple[str, str],
    job: JobConfig,
    source: str | None,
    problems: list[ConfigProblem],
) -> None:
    """Every connector a job reads (its source, other sources, targets) is defined and can read the entity."""
    for field_name, names in (
        ("source", [source] if source else []),
        ("sources", job.sources),
        ("targets", job.targets),
    ):
        for i, name in enumerate(names):
            at = (*where, field_name, i) if field_name != "source" else (*where, "source")
            if name not in model.connectors:
                problems.append(
                    located.problem(at, f"unknown connector {name!r}; defined: {', '.join(model.connectors)}")
                )
                continue
            settings = connectors.get(name)
            if settings is None:
                continue
            if Capability.read not in connector_class(settings.type).capabilities.get(job.entity, frozenset()):
                problems.append(
                    located.problem(at, f"connector {name!r} ({settings.type}) cannot read {job.entity.value}")
                )


def _check_order_readers(
    located: Located,
    model: HubConfig,
    connectors: dict[str, ConnectorSettings],
    where: tuple[str, str],
    job: JobConfig,
    problems: list[ConfigProblem],
) -> None:
    """Every channel a job reserves for is defined and can read its orders."""
    for i, name in enumerate(job.reservations):
        at = (*where, "reservations", i)
        if name not in model.connectors:
            problems.append(located.problem(at, f"unknown connector {name!r}; defined: {', '.join(model.connectors)}"))
            continue
        settings = connectors.get(name)
        if settings is not None and not connector_class(settings.type).reads_orders:
            problems.append(
                located.problem(at, f"connector {name!r} ({settings.type}) cannot read orders, so it cannot reserve")
            )


def _check_writers(
    located: Located,
    connectors: dict[str, ConnectorSettings],
    where: tuple[str, str],
    job: JobConfig,
    problems: list[ConfigProblem],
) -> None:
    """Every target of an ``enforce`` job can write the entity (a ``monitor`` job only reads)."""
    if job.mode != "enforce":
        return
    for i, name in enumerate(job.targets):
        settings = connectors.get(name)
        if settings and Capability.write not in connector_class(settings.type).capabilities.get(
            job.entity, frozenset()
        ):
            problems.append(
                located.problem(
                    (*where, "targets", i),
                    f"connector {name!r} ({settings.type}) cannot write "
                    f"{job.entity.value}; use mode: monitor or another target",
                )
            )


def _check_fields(located: Located, where: tuple[str, str], job: JobConfig, problems: list[ConfigProblem]) -> None:
    """A job's ``fields:`` are fields the reconciler compares for its entity."""
    if job.fields is None:
        return
    known = ENTITY_MODELS[job.entity].compared_fields
    for i, name in enumerate(job.fields):
        if name not in known:
            problems.append(
                located.problem(
                    (*where, "fields", i),
                    f"{name!r} is not compared for {job.entity.value}; choose from {', '.join(known)}",
                )
            )
