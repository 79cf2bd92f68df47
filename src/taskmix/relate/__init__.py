"""How related are tasks? (PVI, transfer, TaskShop — added by later issues.)"""
