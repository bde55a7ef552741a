package storetest

import "testing"

// testSchemaVersion: an opened store has every migration it embeds
// applied, and says so, which /readyz checks. Each store's own tests roll
// the schema back to see a store behind its binary reported.
func testSchemaVersion(t *testing.T, e *env) {
	v, err := e.s.SchemaVersion(e.ctx)
	e.must("SchemaVersion", err)
	if v.Latest < 1 || v.Applied != v.Latest || !v.Current() {
		t.Errorf("SchemaVersion of an opened store = %+v (Current %v), want Applied = Latest ≥ 1 and Current", v, v.Current())
	}
}
