"""Webhooks a department might run instead of this bot, answering config.yaml's keywords: the benchmark's peers."""
