"""Small pieces several parts of mamori need, kept in one place."""
