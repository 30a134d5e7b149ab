"""What the dashboard shows, as data and figures: plots, glossary, narrative, the Story. Never imports streamlit or torch."""
