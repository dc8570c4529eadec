"""The fake as a Flask app: WeChat's /cgi-bin/... endpoints answered by a `FakeWeChatState`, plus /_fake/...
controls for tests and local runs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import flask
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from bot.fake_wechat.model import ApiRequest, UploadedFile
from bot.fake_wechat.state import FakeWeChatState

MAX_BODY_BYTES = 20 * 1024 * 1024  # larger request bodies get HTTP 413


def _json_response(payload: Any, status: int = 200) -> flask.Response:
    # Raw UTF-8 and WeChat's own content type, so clients are exercised against the real wire format.
    return flask.Response(
        json.dumps(payload, ensure_ascii=False), status=status, content_type="application/json; encoding=utf-8"
    )


def _drain_input(environ: Mapping[str, Any]) -> None:
    """Read and drop a rejected request body so the client sees the 413 instead of a connection reset."""
    try:
        remaining = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    stream = environ.get("wsgi.input")
    if stream is None or remaining > 4 * MAX_BODY_BYTES:
        return  # not worth reading; the client gets a reset
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            break
        remaining -= len(chunk)


def _to_api_request(req: flask.Request, path: str) -> ApiRequest:
    query = {k: v for k, v in req.args.items()}
    if req.mimetype == "multipart/form-data":
        files = tuple(
            UploadedFile(name, storage.filename or "", storage.read())
            for name, storages in req.files.lists()
            for storage in storages
        )
        return ApiRequest(req.method, path, query, form=dict(req.form.items()), files=files)
    return ApiRequest(req.method, path, query, body=req.get_data(cache=True))


def create_fake_app(state: FakeWeChatState) -> flask.Flask:
    """The fake WeChat API as a Flask app: /cgi-bin/... endpoints plus /_fake/... test controls."""
    app = flask.Flask("bot.fake_wechat")  # the package's name, as before the split: it names the app's logger
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["fake_wechat"] = state

    @app.route("/cgi-bin/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def cgi_bin(rest: str) -> flask.Response:
        path = "/cgi-bin/" + rest
        try:
            api_request = _to_api_request(flask.request, path)
        except RequestEntityTooLarge:
            state.record_oversized(ApiRequest(flask.request.method, path, dict(flask.request.args.items())))
            raise
        response = state.handle(api_request)
        if response.payload is None:
            return flask.Response(response.text or "", status=response.status, content_type="text/html")
        return _json_response(response.payload, response.status)

    @app.get("/_fake/calls")
    def fake_calls() -> flask.Response:
        since = flask.request.args.get("since", "0")
        if not since.isdigit():
            return _json_response({"error": "since must be an integer"}, 400)
        calls = state.calls(flask.request.args.get("path"), int(since))
        return _json_response({"calls": [dataclasses.asdict(c) for c in calls]})

    @app.get("/_fake/held")
    def fake_held() -> flask.Response:
        return _json_response({"held": state.held()})

    @app.post("/_fake/inject")
    def fake_inject() -> flask.Response:
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("path"), str):
            return _json_response({"error": "body must be a JSON object with 'path'"}, 400)
        kwargs = dict(body)
        path = kwargs.pop("path")
        allowed = {"times", "errcode", "errmsg", "http_status", "delay", "publish_status", "fail_idx"}
        unknown = set(kwargs) - allowed
        if unknown:
            return _json_response({"error": f"unknown fault keys: {sorted(unknown)}"}, 400)
        try:
            fault = state.inject(path, **kwargs)
        except (TypeError, ValueError) as exc:
            return _json_response({"error": str(exc)}, 400)
        return _json_response({"ok": True, "fault": dataclasses.asdict(fault)})

    @app.post("/_fake/reset")
    def fake_reset() -> flask.Response:
        state.reset()
        return _json_response({"ok": True})

    @app.post("/_fake/release_delays")
    def fake_release_delays() -> flask.Response:
        state.release_delays()
        return _json_response({"ok": True})

    @app.post("/_fake/expire_tokens")
    def fake_expire_tokens() -> flask.Response:
        state.expire_tokens()
        return _json_response({"ok": True})

    @app.post("/_fake/config")
    def fake_config() -> flask.Response:
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict):
            return _json_response({"error": "body must be a JSON object"}, 400)
        try:
            if {"webhook_url", "webhook_token", "webhook_aes_key"} & body.keys():
                state.set_webhook(
                    body.pop("webhook_url", None), body.pop("webhook_token", None), body.pop("webhook_aes_key", None)
                )
            state.configure(**body)
        except (TypeError, ValueError) as exc:
            return _json_response({"error": str(exc)}, 400)
        return _json_response({"ok": True, "config": state.snapshot()["config"]})

    @app.post("/_fake/publish/<publish_id>/finish")
    def fake_finish(publish_id: str) -> flask.Response:
        body = flask.request.get_json(silent=True) or {}
        if not isinstance(body, dict):
            return _json_response({"error": "body must be a JSON object"}, 400)
        try:
            job = state.finish_publish(publish_id, body.get("publish_status"), body.get("fail_idx"))
        except KeyError:
            return _json_response({"error": f"unknown publish_id {publish_id}"}, 404)
        except ValueError as exc:
            return _json_response({"error": str(exc)}, 409)
        return _json_response({"ok": True, "job": job})

    @app.post("/_fake/publish/<publish_id>/push")
    def fake_push(publish_id: str) -> flask.Response:
        try:
            state.push_publish_event(publish_id)
        except KeyError:
            return _json_response({"error": f"unknown publish_id {publish_id}"}, 404)
        except ValueError as exc:
            return _json_response({"error": str(exc)}, 409)
        return _json_response({"ok": True})

    @app.get("/_fake/messages")
    def fake_messages() -> flask.Response:
        return _json_response({"messages": [dataclasses.asdict(m) for m in state.custom_messages()]})

    @app.get("/_fake/state")
    def fake_state() -> flask.Response:
        return _json_response(state.snapshot())

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> flask.Response:
        status = exc.code or 500
        if isinstance(exc, RequestEntityTooLarge):
            _drain_input(flask.request.environ)
        return _json_response({"errcode": status, "errmsg": f"fake wechat: {exc.name}: {exc.description}"}, status)

    return app
