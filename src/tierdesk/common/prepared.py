"""Hot reads compiled to SQL once per process.

Every API request looks up its bearer token, and every ticket created for a contact looks up
that contact. Building such a queryset and compiling it to SQL costs ~0.4 ms of Python each
time, four times what the query itself takes on a warm connection (~0.1 ms). A
``PreparedRead`` builds the queryset once, with marker values standing in for the real ones,
keeps the SQL and the parts of Django's own row-to-object machinery that depend only on the
query (column layout, ``select_related`` populators, field converters), and later only puts
the real values in place of the markers.

Only for reads whose SQL does not depend on the values: equality filters on ``str`` or
``int`` values, ``select_related``, ``only``. A filter whose SQL changes with the value (an
``__in`` list, a ``None`` that becomes ``IS NULL``, a restriction that depends on who asks)
does not belong here; compiling checks that each marker appears in the parameters exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models.query import get_related_populators

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[int, ...]  # where each marker's value goes in ``params``
    model: type[models.Model]
    start: int  # the main model's columns in a row
    end: int
    init_list: tuple[str, ...]
    populators: tuple[Any, ...]  # django.db.models.query.RelatedPopulator
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]


class PreparedRead(Generic[M]):
    """``build(*markers)`` returns the queryset; ``read(*values)`` runs it with ``values``.

    The markers are sample values of the right types (``str`` or ``int``) that no real value
    equals, e.g. ``PreparedRead(lambda key: Token.objects.filter(key=key), "\\x00key")``.
    Compiled on first use per database alias; shared by the threads of a process (what it keeps
    is immutable; two threads compiling at once both get the same result).
    """

    def __init__(self, build: Callable[..., models.QuerySet[M]], *markers: str | int) -> None:
        if not markers or any(type(m) not in (str, int) for m in markers):
            raise ImproperlyConfigured("PreparedRead takes one or more str or int markers.")
        self._build = build
        self._markers = markers
        self._compiled: dict[str, _Compiled] = {}

    def __call__(self, *values: str | int, using: str = DEFAULT_DB_ALIAS) -> list[M]:
        if len(values) != len(self._markers) or any(
            type(v) is not type(m) for v, m in zip(values, self._markers, strict=True)
        ):
            raise TypeError(f"expected values like {self._markers!r}, got {values!r}")
        compiled = self._compiled.get(using) or self._compile(using)
        params = list(compiled.params)
        for slot, value in zip(compiled.slots, values, strict=True):
            params[slot] = value
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        objects = []
        for fetched in rows:
            row = list(fetched)
            for pos, convs, expression in compiled.converters:
                value = row[pos]
                for converter in convs:
                    value = converter(value, expression, connection)
                row[pos] = value
            obj = compiled.model.from_db(using, compiled.init_list, row[compiled.start : compiled.end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            objects.append(obj)
        return objects  # type: ignore[return-value]

    def first(self, *values: str | int, using: str = DEFAULT_DB_ALIAS) -> M | None:
        """The first object found, or ``None`` (build the queryset with an ordering or a unique
        filter; there is no implicit ``ORDER BY pk``)."""
        found = self(*values, using=using)
        return found[0] if found else None

    def _compile(self, using: str) -> _Compiled:
        queryset = self._build(*self._markers).using(using)
        if getattr(queryset, "_known_related_objects", None) or getattr(
            queryset, "_prefetch_related_lookups", None
        ):
            raise ImproperlyConfigured("PreparedRead does not support prefetching or related managers.")
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slots = []
        for marker in self._markers:
            found = [i for i, p in enumerate(params) if type(p) is type(marker) and p == marker]
            if len(found) != 1:
                raise ImproperlyConfigured(
                    f"marker {marker!r} appears {len(found)} times in the parameters of {sql!r}"
                )
            slots.append(found[0])
        select, klass_info = compiler.select, compiler.klass_info
        if klass_info is None or compiler.annotation_col_map:
            raise ImproperlyConfigured("PreparedRead reads model instances without annotations.")
        select_fields: Sequence[int] = klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        converters = tuple(
            (pos, tuple(convs), expression)
            for pos, (convs, expression) in compiler.get_converters([s[0] for s in select]).items()
        )
        compiled = _Compiled(
            sql=sql,
            params=tuple(params),
            slots=tuple(slots),
            model=klass_info["model"],
            start=start,
            end=end,
            init_list=tuple(f[0].target.attname for f in select[start:end]),
            # Django 5.2's signature; django-stubs already describe a later one.
            populators=tuple(get_related_populators(klass_info, select, using)),  # type: ignore[call-arg]
            converters=converters,
        )
        self._compiled[using] = compiled
        return compiled
