"""Which tasks to train together? (grouping and combination search — added by later issues.)"""
