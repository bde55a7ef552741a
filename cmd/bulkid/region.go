package main

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/bulkid/bulkid"
)

// regionURLs is --region-url NAME=URL, repeatable; one value may also hold
// several, separated by commas (as BULKID_REGION_URL does).
type regionURLs map[string]string

func (m regionURLs) String() string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		names[i] = name + "=" + m[name]
	}
	return strings.Join(names, ",")
}

func (m regionURLs) Set(v string) error {
	for _, pair := range strings.Split(v, ",") {
		name, raw, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return fmt.Errorf("give NAME=URL, e.g. eu=https://eu.bulkid.example.com, not %q", pair)
		}
		if err := bulkid.CheckRegionName(name); err != nil {
			return err
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("the base URL of region %s must be an absolute http:// or https:// URL with no user, query or fragment, e.g. https://eu.bulkid.example.com, not %q", name, raw)
		}
		if old, dup := m[name]; dup && old != strings.TrimRight(raw, "/") {
			return fmt.Errorf("region %s is given two base URLs, %s and %s", name, old, raw)
		}
		m[name] = strings.TrimRight(raw, "/")
	}
	return nil
}

// storeRegion settles the region of the store a command opens: region if
// given (making it the store's region if the store has none, refusing a
// store of another region), else the store's own, "" in single-region
// mode.
func storeRegion(ctx context.Context, store bulkid.Store, region string) (string, error) {
	if region == "" {
		return store.Region(ctx)
	}
	if err := bulkid.CheckRegionName(region); err != nil {
		return "", fmt.Errorf("--region: %v", err)
	}
	if err := store.SetRegion(ctx, region); bulkid.ErrorCode(err) == bulkid.ECONFLICT {
		return "", fmt.Errorf("--region %s: %s Point --data-dir or --database-url at region %s's store", region, bulkid.ErrorMessage(err), region)
	} else if err != nil {
		return "", err
	}
	return region, nil
}
