"""The campaign manager: search units, choose them, process them into opportunities (a job)."""
