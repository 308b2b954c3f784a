"""Plan importers: each reads one layout into a PlanDraft (storage.importers.draft)."""
