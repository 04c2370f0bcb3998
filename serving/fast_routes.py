"""The fast path's table (``serving.fast_path``): the routes it may answer, read once from the app's own routes.

``fast_routes(app.routes)`` walks the routes in the order FastAPI tries them (``iter_route_contexts``: an
included router's routes with the prefix and dependencies of their inclusion) and keeps each GET route
whose declarations the fast path can read exactly as FastAPI would:

- one path parameter, ``{name:id}`` declared with the ids' validation (``serving.routes.common.PathId``),
  between a fixed prefix and a suffix;
- dependencies it supplies or checks itself: ``get_state``, API key checks (``serving.auth.KeyCheck``) and
  the list filters (``serving.routes.filters.list_filters``: their parameters are deferred, and a request
  without them gets ``DEFAULT_FILTERS``);
  no body, header, cookie or request parameter; an ``async`` endpoint returning a ``Response``, which
  FastAPI sends as it is;
- query parameters read by their own names (no alias, no parameter model), none required. Each is either
  *handled*, an ``int`` with ``ge`` and ``le`` bounds (``k``, ``offset``): the fast path reads a plain
  decimal value in range, or *deferred*, any other: a request carrying it goes to FastAPI. Absent, each
  gets its declared default, as FastAPI gives it. A route with a parameter that is neither (required,
  aliased, a mutable default) is left to FastAPI whole.

So a query parameter added to a route is read by the fast path or sends the request to FastAPI, never
ignored. Paths that a route FastAPI tries first could also match (``shadow_paths``, ``shadow_patterns``)
go to FastAPI too.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, get_args

from annotated_types import Ge, Le
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_return_annotation
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from serving.auth import KeyCheck
from serving.routes.common import IdConvertor, PathId, get_state
from serving.routes.filters import DEFAULT_FILTERS, list_filters

# defaults the fast path may hand to every request (FastAPI gives each request a deep copy of its default)
IMMUTABLE_DEFAULTS = (type(None), bool, int, float, str, bytes)
PATH_ID_METADATA = list(PathId.__metadata__)
Keys = tuple[tuple[bytes, ...], ...]  # per API key check, the keys it accepts


@dataclass(frozen=True)
class IntParam:
    """A handled query parameter: the endpoint's argument, the value's range, and the longest plain decimal
    text worth reading (longer ones, leading zeros included, go to FastAPI)."""

    argument: str
    low: int
    high: int
    digits: int


@dataclass(frozen=True)
class FastRoute:
    """A route the fast path answers: a path ``prefix{id}suffix``, its query parameters by name (handled,
    deferred) and the endpoint's arguments."""

    route: BaseRoute  # what FastAPI records as ``scope["route"]`` (the metrics read its ``path_format``)
    call: Callable[..., Awaitable[Response]]
    prefix: str
    suffix: str
    id_argument: str
    state_argument: str | None
    ints: dict[str, IntParam]
    deferred: frozenset[str]
    defaults: dict[str, Any]  # every query parameter's default, by argument name
    keys: Keys = ()
    shadow_paths: frozenset[str] = frozenset()  # paths of routes tried first that fit this route
    shadow_patterns: tuple[re.Pattern[str], ...] = ()  # templates of routes tried first

    def fits(self, path: str) -> bool:
        """``path`` has this route's shape (FastAPI's ``^prefix(?s:.*)suffix$``, for a path not ending in a
        newline, which ``$`` would also accept)."""
        return (
            len(path) >= len(self.prefix) + len(self.suffix)
            and path.startswith(self.prefix)
            and path.endswith(self.suffix)
        )


def fast_routes(routes: Sequence[BaseRoute]) -> tuple[FastRoute, ...]:
    """The routes of ``routes`` that the fast path answers, in the order FastAPI tries them."""
    table: list[FastRoute] = []
    literals: list[str] = []
    patterns: list[re.Pattern[str]] = []
    for context in iter_route_contexts(routes):
        original = context.original_route
        if isinstance(original, WebSocketRoute):
            continue  # never matches an HTTP request
        if not isinstance(original, Route):
            break  # a mount or a host: which paths it takes is not read here, so nothing after it is fast
        if context.methods and "GET" not in context.methods:
            continue  # a partial match at most: FastAPI goes on to a full one
        fast = fast_route(context)
        if fast is not None:
            shadows = frozenset(path for path in literals if fast.fits(path))
            table.append(replace(fast, shadow_paths=shadows, shadow_patterns=tuple(patterns)))
        elif context.param_convertors:
            patterns.append(context.path_regex)
        else:
            literals.append(context.path_format)
    return tuple(table)


def fast_route(context: RouteContext) -> FastRoute | None:
    """The route as the fast path reads it, or None when it cannot read it as FastAPI would."""
    route = context.original_route
    if not isinstance(route, APIRoute):
        return None
    dependant: Dependant = context.dependant
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call) or not returns_response(call) or takes_more(dependant):
        return None
    path = path_shape(context)
    supplied = supplied_dependencies(dependant.dependencies)
    query = query_params((field.name, field.field_info) for field in dependant.query_params)
    if path is None or supplied is None or query is None:
        return None
    prefix, suffix, id_argument = path
    state_argument, keys, filters = supplied
    ints, deferred, defaults = query
    if filters is not None:  # the filters' parameters send a request to FastAPI; without them, the default
        deferred = deferred | frozenset(field.alias for field in filters.query_params)
        defaults = {**defaults, str(filters.name): DEFAULT_FILTERS}
    return FastRoute(route, call, prefix, suffix, id_argument, state_argument, ints, deferred, defaults, keys)


def returns_response(call: Callable[..., Any]) -> bool:
    """The endpoint is declared to return a ``Response`` (FastAPI sends it as it is, unvalidated)."""
    try:
        returned = get_typed_return_annotation(call)
    except (NameError, TypeError):
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def takes_more(dependant: Dependant) -> bool:
    """The endpoint reads the request beyond its path and query (body, headers, cookies, the request)."""
    special = (
        dependant.request_param_name,
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
    )
    fields = dependant.body_params or dependant.header_params or dependant.cookie_params
    return bool(fields) or any(name is not None for name in special)


def path_shape(context: RouteContext) -> tuple[str, str, str] | None:
    """(prefix, suffix, the id's argument) of a template ``prefix{name:id}suffix`` whose one parameter is
    declared as a ``PathId``."""
    fields = context.dependant.path_params
    if len(fields) != 1 or list(context.param_convertors) != [fields[0].name]:
        return None
    field = fields[0]
    info = field.field_info
    if not isinstance(context.param_convertors[field.name], IdConvertor) or field.alias != field.name:
        return None
    if info.annotation is not str or info.metadata != PATH_ID_METADATA:
        return None
    prefix, marker, suffix = context.path_format.partition("{" + field.name + "}")
    if not marker or not suffix or suffix.endswith("\n"):
        return None
    return prefix, suffix, field.name


def supplied_dependencies(dependencies: Iterable[Dependant]) -> tuple[str | None, Keys, Dependant | None] | None:
    """(the argument taking ``get_state``, the keys each API key check accepts, the list filters' dependency),
    or None when the route has another dependency."""
    state_argument: str | None = None
    keys: list[tuple[bytes, ...]] = []
    filters: Dependant | None = None
    for dependency in dependencies:
        if dependency.call is get_state and dependency.name is not None and state_argument is None:
            state_argument = dependency.name
        elif dependency.call is list_filters and dependency.name is not None and filters is None:
            filters = dependency
        elif isinstance(dependency.call, KeyCheck) and dependency.name is None:
            keys.append(dependency.call.accepted)
        else:
            return None
    return state_argument, tuple(keys), filters


def query_params(
    fields: Iterable[tuple[str, FieldInfo]],
) -> tuple[dict[str, IntParam], frozenset[str], dict[str, Any]] | None:
    """(handled parameters, deferred ones, every default), or None when one is neither."""
    ints: dict[str, IntParam] = {}
    deferred: set[str] = set()
    defaults: dict[str, Any] = {}
    for name, info in fields:
        if (
            info.alias not in (None, name)
            or info.validation_alias not in (None, name)
            or names_a_model(info.annotation)
        ):
            return None  # read under other names than its own
        if info.is_required() or info.validate_default:
            return None
        default = info.get_default(call_default_factory=True)
        bounds = int_range(info)
        if bounds is not None and type(default) is int:
            low, high = bounds
            ints[name] = IntParam(name, low, high, len(str(high)) if high >= 0 else 0)
        elif isinstance(default, IMMUTABLE_DEFAULTS):
            deferred.add(name)
        else:
            return None
        defaults[name] = default
    return ints, frozenset(deferred), defaults


def int_range(info: FieldInfo) -> tuple[int, int] | None:
    """(low, high) of an ``int`` parameter whose only constraints are ``ge`` and ``le``, else None."""
    if info.annotation is not int or len(info.metadata) != 2:
        return None
    low = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
    high = next((m.le for m in info.metadata if isinstance(m, Le)), None)
    if type(low) is not int or type(high) is not int:
        return None
    return low, high


def names_a_model(annotation: Any) -> bool:
    """The annotation holds a pydantic model (a parameter model spreads over several query parameters)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(names_a_model(arg) for arg in get_args(annotation))
