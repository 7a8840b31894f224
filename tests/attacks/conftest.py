"""The attack suite (issue 11): each test acts as a hostile agent or user and asserts one guarantee.

Kept minimal on purpose: fixtures an attack needs live in its own module.
"""
