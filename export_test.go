package bulkid

// ApplyParsed is ApplyPatch without its fast path for canonical objects.
var ApplyParsed = applyParsed
