"""The benchmark's floor: a bare Flask endpoint that answers a constant reply without parsing anything."""

from flask import Flask, Response

REPLY = (
    "<xml><ToUserName><![CDATA[o]]></ToUserName><FromUserName><![CDATA[gh]]></FromUserName>"
    "<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[ok]]></Content></xml>"
)


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/wechat")
    def wechat() -> Response:
        return Response(REPLY, mimetype="application/xml")

    return app


app = create_app()
