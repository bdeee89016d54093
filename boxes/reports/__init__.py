"""Reports for managers: one per board step, any date range, pie charts, KPIs, grids, exports."""
