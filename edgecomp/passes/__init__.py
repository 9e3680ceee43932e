"""Graph passes on the IR (fusion, pruning, ...). Each takes a Graph and returns a Graph."""
