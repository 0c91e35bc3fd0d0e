package main

import (
	"flag"
	"strconv"

	"github.com/consentd/consentd/internal/api"
	xrate "golang.org/x/time/rate"
)

// limitFlags registers serve's flags for the API's rate limits and the
// trusted proxies, with defaults from the environment.
func (m *Main) limitFlags(fs *flag.FlagSet, c *config, env func(name, def string) string) {
	d := api.DefaultLimits()
	num := func(name string, def float64) float64 {
		if v, err := strconv.ParseFloat(env(name, ""), 64); err == nil && v >= 0 {
			return v
		}
		return def
	}
	c.apiKeyRate = num("CONSENTD_API_KEY_RATE", float64(d.PerKey))
	c.apiIPRate = num("CONSENTD_API_IP_RATE", float64(d.PerIP))
	fs.Float64Var(&c.apiKeyRate, "api-key-rate", c.apiKeyRate, "API requests per second of one key, 0 for no limit; over it: 429 with Retry-After (CONSENTD_API_KEY_RATE)")
	fs.IntVar(&c.APILimits.KeyBurst, "api-key-burst", int(num("CONSENTD_API_KEY_BURST", float64(d.KeyBurst))), "API requests one key may send at once before --api-key-rate applies (CONSENTD_API_KEY_BURST)")
	fs.Float64Var(&c.apiIPRate, "api-ip-rate", c.apiIPRate, "API requests per second from one client address, 0 for no limit (CONSENTD_API_IP_RATE)")
	fs.IntVar(&c.APILimits.IPBurst, "api-ip-burst", int(num("CONSENTD_API_IP_BURST", float64(d.IPBurst))), "API requests one address may send at once before --api-ip-rate applies (CONSENTD_API_IP_BURST)")
	fs.BoolVar(&c.APILimits.CheckKeys, "api-limit-check-keys", env("CONSENTD_API_LIMIT_CHECK_KEYS", "") == "true",
		"rate-limit keys of role check too; by default send pipelines are never throttled (CONSENTD_API_LIMIT_CHECK_KEYS=true)")
	c.APILimits.Entries = d.Entries
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", env("CONSENTD_TRUSTED_PROXIES", ""),
		"comma-separated addresses and CIDR prefixes of reverse proxies whose X-Forwarded-For or Forwarded header names the client, for proof IPs and rate limits (CONSENTD_TRUSTED_PROXIES)")
}

// limits are the API limits the flags set.
func (c *config) limits() api.Limits {
	l := c.APILimits
	l.PerKey, l.PerIP = xrate.Limit(c.apiKeyRate), xrate.Limit(c.apiIPRate)
	return l
}
