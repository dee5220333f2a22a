"""Live Docker hosts: connect to a daemon, read its containers and settings into the model."""
