"""Benchmarks of the dashboard's pages, run by `make bench`, never by the tests."""
