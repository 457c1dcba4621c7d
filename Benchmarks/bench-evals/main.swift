print("bench-evals: not yet")
