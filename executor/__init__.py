"""Executor: typed actions (validate, plan, apply, verify) over the Kubernetes and AWS APIs.

Sits below `app` (pages -> app -> engines/executor): it receives clients and action specs and
never imports the UI, the worker or the database layer.
"""
