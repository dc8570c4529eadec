"""A textbook wechatpy + Flask webhook answering config.yaml's keywords, plaintext and AES (safe mode).

A yardstick, not a bot: no dedup, no replay protection (a retried or replayed push is answered again), no
body size limit.

    gunicorn 'bench.peers.wechatpy_app:create_app()'
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import ArticlesReply, create_reply
from wechatpy.utils import check_signature

from bench.peers.table import load


def create_app() -> Flask:
    """The Flask app, with the token, app_id and encoding_aes_key of config.yaml."""
    config, table = load()
    token = config.wechat.token
    crypto = WeChatCrypto(token, config.wechat.encoding_aes_key, config.wechat.app_id)
    app = Flask(__name__)

    def answer(message: Any) -> Any:
        if message.type == "text":
            found = table.for_text(message.content)
        elif message.type == "event" and message.event == "click":
            found = table.for_click(message.key)
        else:
            found = table.default
        if isinstance(found, str):
            return create_reply(found, message)
        return ArticlesReply(message=message, articles=[
            {"title": found.title, "description": found.description, "image": found.image, "url": found.url}])

    @app.route("/wechat", methods=["GET", "POST"])
    def wechat() -> Any:
        args = request.args
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        try:
            check_signature(token, args.get("signature", ""), timestamp, nonce)
        except InvalidSignatureException:
            abort(403)
        if request.method == "GET":
            return args.get("echostr", "")
        if args.get("encrypt_type", "raw") == "raw":
            return Response(answer(parse_message(request.data)).render(), mimetype="application/xml")
        try:
            xml = crypto.decrypt_message(request.data, args.get("msg_signature", ""), timestamp, nonce)
        except (InvalidSignatureException, InvalidAppIdException):
            abort(403)
        reply = answer(parse_message(xml)).render()
        return Response(crypto.encrypt_message(reply, nonce, timestamp), mimetype="application/xml")

    return app
