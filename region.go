package bulkid

import (
	"context"
	"fmt"
	"strings"
)

// MaxRegionName is the longest region name, in bytes.
const MaxRegionName = 32

// CheckRegionName returns nil if name can name a region: 1 to
// MaxRegionName lower-case letters, digits and inner dashes ("us", "eu",
// "analytex-eu"). A region name is written into API keys (NewRegionAPIKey)
// and URLs' host names, so it holds nothing else.
func CheckRegionName(name string) error {
	if name == "" || len(name) > MaxRegionName {
		return fmt.Errorf("a region name has 1 to %d characters, not %d", MaxRegionName, len(name))
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(name)-1
		if !ok {
			return fmt.Errorf("the region name %q may hold only lower-case letters, digits and dashes (not first or last), e.g. us or eu", name)
		}
	}
	return nil
}

// keyRandLen is the length of the random part of a generated key: 32 bytes
// in unpadded base32.
const keyRandLen = 52

// NewRegionAPIKey returns a new random API key of an app of region:
// "bk_", the region, "_" and the random part of NewAPIKey, so that any
// server can tell a key's region from the key alone (KeyRegion). With
// region "" it is NewAPIKey.
func NewRegionAPIKey(region string) string {
	key := NewAPIKey()
	if region == "" {
		return key
	}
	return "bk_" + region + "_" + strings.TrimPrefix(key, "bk_")
}

// KeyRegion returns the region a key names, "" if it names none: keys
// made before regions ("bk_" and the random part), keys an operator chose
// (BULKID_API_KEY), and anything else that is not exactly the shape
// NewRegionAPIKey makes.
func KeyRegion(key string) string {
	rest, ok := strings.CutPrefix(key, "bk_")
	if !ok {
		return ""
	}
	region, random, ok := strings.Cut(rest, "_")
	if !ok || len(random) != keyRandLen || CheckRegionName(region) != nil {
		return ""
	}
	for _, c := range random {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return ""
		}
	}
	return region
}

// RegionStore records which region's data a store holds. A store holds
// the data of one region, or, until a region is set, of a deployment of
// no region (single-region mode).
type RegionStore interface {
	// Region returns the store's region, "" if none was set.
	Region(ctx context.Context) (string, error)
	// SetRegion makes region, which CheckRegionName accepts, the store's
	// region if it has none, atomically, so that processes starting
	// together agree on one. Setting the store's own region again is nil.
	// Returns ECONFLICT, the message naming the store's region, if the
	// store has another region.
	SetRegion(ctx context.Context, region string) error
}

// RegionTakenError is the ECONFLICT of SetRegion on a store of another
// region.
func RegionTakenError(stored, wanted string) error {
	return &Error{
		Code: ECONFLICT,
		Message: fmt.Sprintf("This store holds the data of region %q, so it cannot serve region %q: "+
			"each region has a store of its own.", stored, wanted),
	}
}

// MisdirectedError is the EMISDIRECTED of a key of region sent to a
// server of another region, serving; url is region's base URL, "" if the
// server does not know it.
func MisdirectedError(region, url, serving string) *Error {
	e := &Error{Code: EMISDIRECTED, Details: "region " + region}
	if url != "" {
		e.Message = fmt.Sprintf("This API key is of an app of region %q, whose data this server (region %q) does not hold; send the request to %s.", region, serving, url)
		e.Details += " at " + url
	} else {
		e.Message = fmt.Sprintf("This API key is of an app of region %q, whose data this server (region %q) does not hold; send the request to that region's server.", region, serving)
	}
	return e
}
