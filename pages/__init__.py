"""Thin Streamlit pages, one per file; run by app/streamlit_app.py through st.navigation."""
