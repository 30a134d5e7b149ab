"""Shared pieces of the Streamlit front end. Nothing here trains or imports torch."""
