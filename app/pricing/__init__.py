"""Pricing catalog: the read-only price book engines use, built from shipped or refreshed AWS data."""

from app.pricing.catalog import CatalogError, PriceCatalog, load_price_book

__all__ = ["CatalogError", "PriceCatalog", "load_price_book"]
