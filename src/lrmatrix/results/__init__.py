"""The result of one cell run: its model, its files, and the one outcome."""
