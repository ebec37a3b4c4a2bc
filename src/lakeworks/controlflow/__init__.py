"""Control-flow node kinds (branch, merge), plugged into the runtime at process start."""
