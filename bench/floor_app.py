"""The benchmark's floors: a bare Flask endpoint answering a constant reply without parsing anything.

`create_app()` is the floor the target is measured against. `create_app(claim=True)` (`create_claim_app()`, for
servers whose factories take no arguments) adds exactly one
Redis command per request (SET NX EX on a fresh key, as a dedup claim at its cheapest): the ceiling any webhook that
deduplicates in Redis before replying can reach on the same machine.
"""

import itertools
import os

import redis
from flask import Flask, Response

REPLY = (
    "<xml><ToUserName><![CDATA[o]]></ToUserName><FromUserName><![CDATA[gh]]></FromUserName>"
    "<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[ok]]></Content></xml>"
)


def create_app(claim: bool = False) -> Flask:
    app = Flask(__name__)
    if claim:
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        prefix = os.environ.get("BOT_REDIS_PREFIX", "") + "floor:"
        ids = itertools.count()

        @app.post("/wechat")
        def wechat_claim() -> Response:
            client.set(f"{prefix}{os.getpid()}:{next(ids)}", b"R", nx=True, ex=60)
            return Response(REPLY, mimetype="application/xml")
    else:
        @app.post("/wechat")
        def wechat() -> Response:
            return Response(REPLY, mimetype="application/xml")

    return app



def create_claim_app() -> Flask:
    return create_app(claim=True)
