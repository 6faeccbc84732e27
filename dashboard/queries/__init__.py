"""Read-only queries behind the dashboard pages: plain functions of a Connection, testable without
Streamlit. Every query is bounded (LIMIT or a fixed number of buckets) and walks an index."""
