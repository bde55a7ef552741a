package bulkid

// ApplyPatch is RFC 7396 applied by fastjson: the tests' oracle for
// ApplyRecords (see patch_test.go).
var ApplyPatch = applyPatch
