-- Each app's rate state (bulkid.ReserveRows): its theoretical arrival time in Unix microseconds.
ALTER TABLE apps ADD COLUMN throttle_tat INTEGER;
