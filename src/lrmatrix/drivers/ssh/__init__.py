"""The ssh driver: an existing Docker host reached with paramiko."""
