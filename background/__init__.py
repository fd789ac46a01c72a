"""The worker process: APScheduler jobs, the Spot interruption poller and the execution runner.

Never imports Streamlit (import-linter); talks to the UI only through the database.
"""
