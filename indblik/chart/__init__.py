"""The record pages: what a granted professional sees of one citizen's hospital record."""
