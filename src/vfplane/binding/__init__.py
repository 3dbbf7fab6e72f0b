"""Port binding: the ML2-like binding manager and its mechanism drivers."""
