"""Chalice handlers that live outside app.py (Blueprints); like app.py, they sit above the
composition root (`chalicelib.services`) and only parse, call a service and answer."""
