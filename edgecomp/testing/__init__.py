"""Helpers shared by the test suites (model generators); not used by the library itself."""
