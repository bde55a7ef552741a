package dashboard

import (
	"io/fs"
	"testing"
)

// TestPagesParse: every page of templates/ parses with the layout and
// defines it. Pages are parsed when first rendered (parsePages), so this
// is where a broken template fails, not at a visitor's first request.
func TestPagesParse(t *testing.T) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	pages := parsePages()
	if len(pages) != len(names)-1 || len(pages) == 0 {
		t.Fatalf("%d pages for %d templates (layout.html included)", len(pages), len(names))
	}
	for name, parse := range pages {
		if parse().Lookup("layout") == nil {
			t.Errorf("%s: no layout template", name)
		}
	}
}
