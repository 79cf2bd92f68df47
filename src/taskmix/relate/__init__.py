"""How related are tasks? PVI, TextEmb, pairwise transfer (TaskWeb) and TaskShop, one method per
module."""
