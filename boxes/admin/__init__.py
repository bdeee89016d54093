"""Dealer administration: users and memberships."""
