"""Earning points: activity types, budgets, activities and their attendance, awards with caps and
maker-checker, reports (随手拍), and service hours. Tables and their PostgreSQL guards: migration 0008."""
