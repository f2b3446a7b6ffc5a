"""The matrix as data: cells, their schema, and the engines they name."""
