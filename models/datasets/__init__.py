"""Loaders that turn the real datasets (shared/data formats) into typed events and labelled examples.

Modules: `higgs` (actions), `sentiment` (SemEval 2013-2016, TweetEval val), `pheme`, `twitter1516`,
`rumoureval`, `weibo` (rumour threads, `rumor_thread`), `streams` (every dataset as one event stream by name).
"""
