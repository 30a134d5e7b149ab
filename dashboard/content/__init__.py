"""What the dashboard shows, as data and figures: plots and tradeoff_plots, the series they draw,
glossary, narrative, the Story and run names. Never imports streamlit or torch."""
