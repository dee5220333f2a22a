"""Vulnerability matching: exact version ordering, an offline advisory database and the matcher."""
