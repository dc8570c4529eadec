"""Log-in, log-out and changing one's own password; `/api/me` and the OpenAPI document."""

from __future__ import annotations

from flask import current_app, flash, jsonify, make_response, request, session
from pydantic import BaseModel
from werkzeug.wrappers import Response as BaseResponse

from bot.accounts.model import AccountError, LoginRefused
from bot.web.console.apispec import openapi_document, operation
from bot.web.console.auth import Caller, client_address, config, cookie_name, secure_cookies, services
from bot.web.console.blueprints import api, pages
from bot.web.console.texts import account_error, login_refused
from bot.web.console.views import page, redirect_to, render, safe_next


@pages.route("/login", methods=["GET", "POST"])
def login() -> str | BaseResponse:
    error = ""
    name = ""
    if request.method == "POST":
        name = request.form.get("name", "")[:64]
        password = request.form.get("password", "")
        try:
            user, session_id = services().users.log_in(name, password, client_address())
        except LoginRefused as exc:
            error = login_refused(exc)
        else:
            session.clear()  # a fresh CSRF token with the fresh session id
            cfg = config()
            resp = redirect_to_next(request.args.get("next"))
            resp.set_cookie(cookie_name(cfg), session_id, httponly=True, samesite="Lax", path="/",
                            secure=secure_cookies(cfg), max_age=cfg.console.session_max_hours * 3600)
            current_app.logger.info("console log-in: %s", user.name)
            return resp
    html = render("console/login.html", error=error, name=name)
    return make_response(html, 401 if error else 200)


def redirect_to_next(target: str | None) -> BaseResponse:
    from flask import redirect

    return redirect(safe_next(target), code=303)


@pages.post("/logout")
@page(None)
def logout(who: Caller) -> BaseResponse:
    services().users.log_out(who.session_id)
    session.clear()
    resp = redirect_to("console.login")
    resp.delete_cookie(cookie_name(config()), path="/", secure=secure_cookies(config()), httponly=True,
                       samesite="Lax")
    return resp


@pages.route("/password", methods=["GET", "POST"])
@page(None)
def password(who: Caller) -> str | BaseResponse:
    error = ""
    if request.method == "POST":
        new, again = request.form.get("new", ""), request.form.get("again", "")
        if new != again:
            error = "两次输入的新密码不一致"
        else:
            try:
                services().users.change_password(who.user.name, request.form.get("current", ""), new,
                                                 address=client_address())
            except AccountError as exc:
                error = account_error(exc)
            else:
                flash("密码已修改，请用新密码重新登录", "ok")
                resp = redirect_to("console.login")
                resp.delete_cookie(cookie_name(config()), path="/")
                return resp
    return render("console/password.html", error=error)


class Me(BaseModel):
    name: str
    role: str
    via: str


@operation("/me", "GET", summary="The caller: user name, role, and how they authenticated", tag="account",
           area=None, response=Me)
def me(caller: Caller) -> Me:
    return Me(name=caller.user.name, role=caller.user.role, via=caller.via)


@api.get("/openapi.json")
def openapi() -> BaseResponse:
    """Generated from the declared operations (never kept by hand)."""
    return jsonify(openapi_document(f"{config().account.name} console API", "1"))
