-- App names are unique: bulkid apps chooses an app by its name. An app whose
-- name an older app (a lower id) already has is renamed "NAME #ID", which is
-- unique because the id is; the oldest app keeps the name.
UPDATE apps SET name = name || ' #' || id
WHERE EXISTS (SELECT 1 FROM apps AS older WHERE older.name = apps.name AND older.id < apps.id);
CREATE UNIQUE INDEX apps_name ON apps (name);
