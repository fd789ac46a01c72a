"""Tests of the executor: actions against local AWS (moto) and the local Kubernetes API."""
