"""Environments: DeepMind Control (dmc.py), ShapeHerd (shapeherd.py) and the shared wrappers.

Not built yet: the environments and their `envs.make(task, config)` factory land with the agent issue
(DMC) and the ShapeHerd issue.
"""
