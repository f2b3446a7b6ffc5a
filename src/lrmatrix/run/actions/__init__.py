"""What a cell does to its node, one action at a time; each returns evidence records."""
