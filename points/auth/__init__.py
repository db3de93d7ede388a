"""Identity and access: who is calling (sessions, tokens) and what they may do (the policy table)."""
