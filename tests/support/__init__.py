"""Test support: master data, event builders and an in-memory ``PostingState`` fake."""
