"""Keyword rules: validation and import/export, the compiled matcher, the live rule set each worker answers with.

Also the wording rules answer with that validation must know about (`urgent`) and the survey's tracked link
(`survey`).
"""
