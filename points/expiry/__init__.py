"""Points that expire: the community's setting, first-in-first-out lots, the job, and what a member sees coming."""
