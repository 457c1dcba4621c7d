print("bench-site: not yet")
