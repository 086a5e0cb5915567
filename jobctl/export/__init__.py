"""Exports of what `jobctl apply` deploys, for pipelines that deploy by other tools."""
