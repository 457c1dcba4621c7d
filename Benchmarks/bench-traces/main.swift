print("bench-traces: not yet")
