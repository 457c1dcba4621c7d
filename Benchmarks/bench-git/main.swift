print("bench-git: not yet")
