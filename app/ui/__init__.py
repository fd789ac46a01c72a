"""Streamlit helpers shared by the pages (engine/settings access, formatting, widgets)."""
