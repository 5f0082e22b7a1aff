"""Renderers: records in, text out (table, JSON, CSV, Beancount). No business rules."""
