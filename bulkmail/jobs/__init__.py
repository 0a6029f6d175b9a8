"""The work: options, validation, the live state, planning, sending, verifying, rails, the journal,
the change pipeline, export, accounts, sync, diff, plan files."""
