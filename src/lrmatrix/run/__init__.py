"""Running one cell: the runner, its sequence of actions, and the plan that prints it."""
