"""Use-cases called by the Streamlit pages and the CLI; pages hold no business logic."""
