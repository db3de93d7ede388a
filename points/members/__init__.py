"""Members of a community, their households and places, roles, and bulk import."""
