package bulkid_test

import (
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

func TestRegionAPIKey(t *testing.T) {
	for _, region := range []string{"us", "eu", "analytex-eu", "r2"} {
		key := bulkid.NewRegionAPIKey(region)
		if !strings.HasPrefix(key, "bk_"+region+"_") {
			t.Errorf("NewRegionAPIKey(%q) = %q, want the prefix bk_%s_", region, key, region)
		}
		if got := bulkid.KeyRegion(key); got != region {
			t.Errorf("KeyRegion(%q) = %q, want %q", key, got, region)
		}
	}
	if key := bulkid.NewRegionAPIKey(""); bulkid.KeyRegion(key) != "" || !strings.HasPrefix(key, "bk_") || strings.Count(key, "_") != 1 {
		t.Errorf("NewRegionAPIKey(\"\") = %q, want a key of no region, as NewAPIKey makes", key)
	}
	random := strings.TrimPrefix(bulkid.NewAPIKey(), "bk_")
	// Keys of no region: made before regions, chosen by an operator, or
	// only nearly of the generated shape.
	for _, key := range []string{
		bulkid.NewAPIKey(),
		"bk_" + random,
		"my_chosen_key_of_some_length",
		"bk_eu_" + random[:51],
		"bk_eu_" + random + "a",
		"bk_eu_" + strings.ToUpper(random),
		"bk_EU_" + random,
		"bk_-eu_" + random,
		"bk__" + random,
		"xk_eu_" + random,
		"bk_" + strings.Repeat("a", bulkid.MaxRegionName+1) + "_" + random,
	} {
		if got := bulkid.KeyRegion(key); got != "" {
			t.Errorf("KeyRegion(%q) = %q, want no region", key, got)
		}
	}
}

func TestCheckRegionName(t *testing.T) {
	for _, ok := range []string{"us", "eu", "analytex-eu", "a", "x1", strings.Repeat("a", bulkid.MaxRegionName)} {
		if err := bulkid.CheckRegionName(ok); err != nil {
			t.Errorf("CheckRegionName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "EU", "-eu", "eu-", "e_u", "e u", "eu.example", "é", strings.Repeat("a", bulkid.MaxRegionName+1)} {
		if err := bulkid.CheckRegionName(bad); err == nil {
			t.Errorf("CheckRegionName(%q) = nil, want an error", bad)
		}
	}
}
