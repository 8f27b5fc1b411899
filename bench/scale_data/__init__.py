"""Data at national scale: seed PostgreSQL with millions of rows, measure, EXPLAIN."""
