"""The streaming worker process: faust app, agents, runtime, health, metrics, logs."""
