"""Followers' questions and the Q&A reply posts that answer them.

`desk` takes questions in from the webhook; `privacy` pseudonymises followers and scrubs personal data;
`batching` moves pending questions into draft posts; `posts` is the editors' service (CLI and console);
`publishing` puts a post on WeChat exactly once and tells the askers; `render` makes the article HTML.
"""
