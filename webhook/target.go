package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// MaxURLLen is the longest webhook URL taken.
const MaxURLLen = 2048

// blocked are the address ranges a webhook may not reach unless private
// targets are allowed: besides loopback, private, link-local, multicast
// and unspecified addresses, those reserved for shared (carrier) NAT,
// benchmarks, documentation and the future, and IPv4's broadcast.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 reaches IPv4 inside
	netip.MustParsePrefix("2001:db8::/32"),
}

// Public reports whether a webhook may reach ip when private targets are
// not allowed.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Resolver looks up a host's addresses; net.DefaultResolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckURL says why raw may not be a webhook's URL, or returns nil: it must
// be an absolute http or https URL with a host and no user name or
// fragment, and, unless allowPrivate, every address its host resolves to
// must be Public. The message is for the client that registers it.
func CheckURL(ctx context.Context, raw string, allowPrivate bool, r Resolver) error {
	if len(raw) > MaxURLLen {
		return fmt.Errorf("url is longer than %d bytes", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return errors.New("url must be an absolute http:// or https:// URL")
	}
	if u.User != nil {
		return errors.New("url must not hold a user name or password")
	}
	if u.Fragment != "" {
		return errors.New("url must not have a #fragment")
	}
	host := u.Hostname()
	if allowPrivate {
		return nil
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = r.LookupNetIP(ctx, "ip", host); err != nil || len(ips) == 0 {
		return fmt.Errorf("url's host %q cannot be resolved", host)
	}
	for _, ip := range ips {
		if !Public(ip) {
			return fmt.Errorf("url's host %q is a private, loopback or otherwise internal address (%s); this server does not send webhooks there", host, ip.Unmap())
		}
	}
	return nil
}

// errBlocked is a connection refused by dialControl.
var errBlocked = errors.New("the target's address is private, loopback or otherwise internal")

// dialControl refuses connections to addresses that are not Public. It
// runs on the address actually dialled, after resolution, so a name that
// resolved to a public address at registration and to an internal one now
// (DNS rebinding) is still refused.
func dialControl(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !Public(ip) {
		return fmt.Errorf("%w: %s", errBlocked, host)
	}
	return nil
}
