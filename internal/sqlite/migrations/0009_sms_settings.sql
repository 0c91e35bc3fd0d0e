-- A workspace's SMS settings: the name its texts go out under (double
-- opt-in texts, keyword replies) and its reply to HELP and INFO. Empty means
-- the default: the workspace's name, and a text naming it and how to stop.
ALTER TABLE workspaces ADD COLUMN sms_sender_name TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN sms_help_text TEXT NOT NULL DEFAULT '';
