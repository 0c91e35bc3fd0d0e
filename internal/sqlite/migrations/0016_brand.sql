-- A workspace's brand (consentd.Brand): how it presents itself on the
-- public pages and in mails and texts. Empty text means the default (the
-- workspace's name, English, the built-in colour, no privacy link, no
-- footer, the server's public URL); texts is a JSON object of language →
-- key → text overriding shipped texts. The logo is stored in the row, its
-- bytes in logo (NULL when there is none) with the type, SHA-256 (hex) and
-- size in pixels checked when it was uploaded.
ALTER TABLE workspaces ADD COLUMN sender_name TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN default_language TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN accent_color TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN privacy_url TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN footer TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN public_url TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN texts TEXT NOT NULL DEFAULT '{}';
ALTER TABLE workspaces ADD COLUMN logo BLOB;
ALTER TABLE workspaces ADD COLUMN logo_type TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN logo_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN logo_width INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN logo_height INTEGER NOT NULL DEFAULT 0;

-- A person's language (BCP 47), for pages and mails when no consent
-- records one; empty when unknown.
ALTER TABLE parties ADD COLUMN language TEXT NOT NULL DEFAULT '';
