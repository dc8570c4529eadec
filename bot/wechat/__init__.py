"""WeChat: the protocol edge (signatures, AES, XML), the typed messages, the API client, a push simulator.

`edge` verifies and opens pushes (`crypto`, `inbound`) and seals replies (`outbound`); `messages` are the
frozen dataclasses every other package sees instead of XML; `api` is the one client of WeChat's HTTP API;
`simulator` builds pushes exactly as WeChat signs them (for `simulate`, tests and benchmarks).
"""
