"""Use cases over ports: ingest, post, master data, queries. No SQL, no HTTP here."""
