"""The operators' Streamlit dashboard (multipage); started by `monitor dashboard` and `monitor demo`."""
