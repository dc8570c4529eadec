"""Background work that must not run on the request path, in its own process (`python -m scheduler`)."""
