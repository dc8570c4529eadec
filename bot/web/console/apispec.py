"""The JSON API's plumbing: one decorator declares an operation (route, role, request and response models),
checks the caller, parses the body with pydantic and records the operation for `/api/openapi.json`.

Every error is ``{"error": {"code", "message", "field"}}`` with its status, never HTML or a traceback.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request
from flask_wtf.csrf import CSRFError
from pydantic import BaseModel, Field, ValidationError
from werkzeug.exceptions import HTTPException

from bot.web.console.auth import Caller, TokenRefused, caller, csrf, needs_csrf
from bot.web.console.blueprints import api

JsonBody = dict[str, Any] | list[Any]


class ApiError(Exception):
    """An answer other than success: status, a stable code, a message for people and the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.extra = extra  # more facts for programs (WeChat's errcode)

    def response(self) -> Response:
        resp = jsonify({"error": {"code": self.code, "message": self.message, "field": self.field, **self.extra}})
        resp.status_code = self.status
        return resp


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None
    errcode: int | None = Field(None, description="WeChat's errcode, when WeChat refused (502)")
    version: int | None = Field(None, description="the current version, when a change was based on a stale one (409)")


class ErrorResponse(BaseModel):
    error: ErrorBody


class VersionRequired(BaseModel):
    """An update's `?version=`: the version the caller read, so that it cannot overwrite a newer edit unseen."""

    version: int = Field(description="the version read with GET; a stale one gets 409 with the current version")


MISSING_VERSION = ("send ?version= with the version you read (GET), so that the change cannot overwrite someone "
                   "else's newer edit (请带上读取时的版本号 version，以免覆盖他人较新的修改)")


def stale(message: str, current: int) -> ApiError:
    """409 for a change based on an old version; `version` in the error is the current one, to reload."""
    return ApiError(409, "stale", message, None, version=current)


@dataclass(frozen=True, slots=True)
class Operation:
    """One API operation as the OpenAPI document describes it."""

    path: str  # OpenAPI form, /rules/{rule_id}
    method: str
    name: str
    summary: str
    tag: str
    area: str | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any  # a pydantic model class, list[Model], or None for 204
    status: int
    errors: tuple[int, ...] = ()  # statuses beyond the usual ones (502: WeChat refused)


OPERATIONS: list[Operation] = []  # filled as the feature modules are imported, like the blueprint's routes
_PATH_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def parse(model: type[BaseModel], data: Any, where: str) -> Any:
    """`data` as `model`, or a 422 naming the first field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_path(tuple(first["loc"]))
        if where == "query" and field == "version" and first["type"] == "missing":
            raise ApiError(422, "invalid", MISSING_VERSION, field) from None
        raise ApiError(422, "invalid", f"{where} {field}: {first['msg']}", field) from None


def authorize(area: str | None) -> Caller:
    """The caller if they may use `area` (None: any logged-in user); else 401/403."""
    try:
        who = caller()
    except TokenRefused as exc:
        raise ApiError(401, "unauthorized", exc.reason) from None
    if who is None:
        raise ApiError(401, "unauthorized", "log in, or send Authorization: Bearer <personal API token>")
    if needs_csrf():
        try:
            csrf.protect()
        except CSRFError as exc:
            raise ApiError(403, "csrf", f"CSRF check failed ({exc.description}); send the X-CSRFToken header") from None
    if area is not None and not who.user.can(area):
        raise ApiError(403, "forbidden", f"the {who.user.role} role may not change {area}")
    return who


def _dump(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [_dump(item) for item in result]
    return result


def operation(path: str, method: str, *, summary: str, tag: str, area: str | None,
              body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
              response: Any = None, status: int = 200,
              errors: tuple[int, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an API operation; the view gets ``caller``, ``body`` and ``query`` (when declared) by keyword."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def view(**params: Any) -> Any:
            who = authorize(area)
            kwargs: dict[str, Any] = {"caller": who, **params}
            if body is not None:
                if not request.is_json:
                    raise ApiError(400, "bad_request", "send a JSON body with Content-Type: application/json")
                data = request.get_json(silent=True)
                if data is None:
                    raise ApiError(400, "bad_request", "the body is not valid JSON")
                kwargs["body"] = parse(body, data, "body")
            if query is not None:
                kwargs["query"] = parse(query, request.args.to_dict(), "query")
            result = fn(**kwargs)
            if status == 204:
                return Response(status=204)
            resp = jsonify(_dump(result))
            resp.status_code = status
            return resp

        api.add_url_rule(path, endpoint=fn.__name__, view_func=view, methods=[method])
        OPERATIONS.append(Operation(_PATH_PARAM.sub(r"{\1}", path), method.lower(), fn.__name__, summary, tag,
                                    area, body, query, response, status, errors))
        return view

    return decorate


# -- errors ---------------------------------------------------------------------------------------

@api.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return exc.response()


def http_error(exc: HTTPException) -> Response:
    """Any HTTP error under /api as the API's JSON error (unknown paths and methods included)."""
    code = (exc.name or "error").casefold().replace(" ", "_")
    return ApiError(exc.code or 500, code, exc.description or exc.name or "error").response()


@api.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    import logging

    logging.getLogger(__name__).exception("API error on %s %s", request.method, request.path)
    return ApiError(500, "internal", "unexpected error; it was logged").response()


# -- the OpenAPI document ---------------------------------------------------------------------------

def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema reference for `model` (or list[model]), its definitions collected in `components`."""
    from typing import get_args, get_origin

    if get_origin(model) is list:
        return {"type": "array", "items": _schema(get_args(model)[0], components)}
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"{([a-z_]+)}", op.path)]
    if op.query is not None:
        for name, info in op.query.model_fields.items():
            prop = op.query.model_json_schema()["properties"][name]
            params.append({"name": name, "in": "query", "required": info.is_required(), "schema": prop})
    return params


def openapi_document(title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of every declared operation."""
    components: dict[str, Any] = {}
    error = {"content": {"application/json": {"schema": _schema(ErrorResponse, components)}}}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, Any] = {}
        if op.status == 204:
            responses["204"] = {"description": "done"}
        else:
            content = {"application/json": {"schema": _schema(op.response, components)}} if op.response else {
                "application/json": {"schema": {}}}
            responses[str(op.status)] = {"description": "success", "content": content}
        for code, what in (("401", "not logged in / bad token"), ("403", "role or CSRF refused")):
            responses[code] = {"description": what, **error}
        if op.body is not None or op.query is not None:
            responses["400"] = {"description": "not JSON", **error}
            responses["422"] = {"description": "a field is invalid", **error}
        if "{" in op.path:
            responses["404"] = {"description": "no such item", **error}
            responses.setdefault("422", {"description": "a malformed id or field", **error})
        if op.method != "get":
            responses["409"] = {"description": "conflicts with the current state", **error}
        responses["429"] = {"description": "too many calls this minute (console.api_requests_per_minute)",
                            "headers": {"Retry-After": {"description": "seconds until the window ends",
                                                        "schema": {"type": "integer"}}}, **error}
        for extra in op.errors:
            responses.setdefault(str(extra), {"description": "see the error's code and message", **error})
        entry: dict[str, Any] = {"operationId": op.name, "summary": op.summary, "tags": [op.tag],
                                 "parameters": _parameters(op), "responses": responses}
        if op.body is not None:
            entry["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": _schema(op.body, components)}}}
        paths.setdefault("/api" + op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "`python -m bot users token NAME`"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "wxbot-session",
                           "description": "the console's session; state-changing calls also send X-CSRFToken"},
            },
        },
        "security": [{"bearer": []}, {"cookie": []}],
    }
