-- The region whose data the store holds (bulkid.RegionStore): at most one
-- row; none in single-region mode.
CREATE TABLE store_region (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	region TEXT NOT NULL
);
