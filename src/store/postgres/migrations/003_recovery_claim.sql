-- A run recovering from another names the first run of its recoverFrom chain; at most one run that has not ended
-- may hold a chain's claim, so two recoveries never execute the same actions at once.
ALTER TABLE runs ADD COLUMN recovery_claim text;
CREATE UNIQUE INDEX runs_recovery_claim ON runs (recovery_claim)
  WHERE recovery_claim IS NOT NULL AND phase NOT IN ('succeeded','failed','aborted','timed_out');
