"""Adapters: the functions of an App, run by another platform's event sources.

* :mod:`arenaflow.adapters.aws_lambda` — AWS Lambda (Kinesis, SQS, API Gateway events).

Each adapter is imported on its own (``from arenaflow.adapters import aws_lambda``), so an App
that does not use one never loads it.
"""
