"""Grids of runs through the run store and an executor: STL/MTL runs of groups, the pairwise
transfer grid, combination-search trials, and the groupings a proof by training compares."""
