"""Console accounts: users with roles, argon2id passwords, throttled log-ins, sessions, API tokens, the audit log.

Lowest first: ``model`` (roles, users, refusals), ``passwords`` and ``tokens``, ``audit``, ``throttle`` and
``sessions``, ``users`` (the service the CLI and the console call), ``bootstrap`` (the first admin).
"""
