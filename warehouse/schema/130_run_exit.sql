-- The exit status a run ended with, so what cron saw and what the warehouse says agree.

ALTER TABLE runs ADD COLUMN IF NOT EXISTS exit_code INTEGER;
COMMENT ON COLUMN runs.exit_code IS 'Exit status of the command that made the run: 0 done, 1 nothing could be processed, 3 --strict and a source unreachable or a layout alert; NULL while running or when the process died (status crashed). README "Exit status".';
