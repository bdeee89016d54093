"""Dealer settings managed by service managers: the discard-reason catalog and the dealer's data."""
