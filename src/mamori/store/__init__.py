"""mamori's own state: an embedded SQLite database under ``$MAMORI_HOME``, or PostgreSQL."""
