package main

import (
	"flag"
	"fmt"

	"github.com/consentd/consentd/internal/smsout"
)

// smsConfig is serve's SMS sender: the provider that double opt-in texts
// and keyword replies go out through. The Twilio token is read from the
// environment when the flag is not given, and is never a flag default, so
// that `serve -h` does not print it.
type smsConfig struct {
	Provider       string // "", twilio or http
	TwilioAccount  string
	twilioToken    string // secret: never logged, never in an error
	envToken       string // CONSENTD_SMS_TWILIO_TOKEN, used when the flag is not given
	TwilioBaseURL  string
	From           string
	HTTPConfigFile string
	getenv         func(string) string // reads the variable a generic sender's secret_env names
}

// smsFlags registers serve's SMS sender flags, with defaults from the
// environment.
func (m *Main) smsFlags(fs *flag.FlagSet, c *smsConfig, env func(name, def string) string) {
	c.getenv = m.Getenv
	c.envToken = env("CONSENTD_SMS_TWILIO_TOKEN", "")
	fs.StringVar(&c.Provider, "sms-provider", env("CONSENTD_SMS_PROVIDER", ""), "send texts (double opt-in, keyword replies) through twilio or http (a generic HTTP API, --sms-http-config); default none (CONSENTD_SMS_PROVIDER)")
	fs.StringVar(&c.TwilioAccount, "sms-twilio-account", env("CONSENTD_SMS_TWILIO_ACCOUNT", ""), "Twilio Account SID (CONSENTD_SMS_TWILIO_ACCOUNT)")
	fs.StringVar(&c.twilioToken, "sms-twilio-token", "", "Twilio auth token; prefer the variable, which no process list shows (CONSENTD_SMS_TWILIO_TOKEN)")
	fs.StringVar(&c.TwilioBaseURL, "sms-twilio-base-url", env("CONSENTD_SMS_TWILIO_BASE_URL", smsout.TwilioBaseURL), "Twilio's API base URL (CONSENTD_SMS_TWILIO_BASE_URL)")
	fs.StringVar(&c.From, "sms-from", env("CONSENTD_SMS_FROM", ""), "default sender: a phone number, an alphanumeric sender id, or a Twilio Messaging Service SID (MG...) (CONSENTD_SMS_FROM)")
	fs.StringVar(&c.HTTPConfigFile, "sms-http-config", env("CONSENTD_SMS_HTTP_CONFIG", ""), "the generic HTTP sender's configuration, JSON or YAML (docs/sms.md) (CONSENTD_SMS_HTTP_CONFIG)")
}

// newSMSSender returns the sender the flags configure: nil, nil without
// --sms-provider. Its errors name the flag, never the token.
func newSMSSender(c *config) (smsout.Sender, error) {
	s := c.SMS
	if s.twilioToken == "" {
		s.twilioToken = s.envToken
	}
	switch s.Provider {
	case "":
		return nil, nil
	case "twilio":
		if s.TwilioAccount == "" || s.twilioToken == "" {
			return nil, usageError{"--sms-provider twilio needs --sms-twilio-account and a token (CONSENTD_SMS_TWILIO_TOKEN)"}
		}
		if s.From == "" {
			return nil, usageError{"--sms-provider twilio needs --sms-from: a number, a sender id or a Messaging Service SID"}
		}
		return &smsout.Twilio{AccountSID: s.TwilioAccount, AuthToken: s.twilioToken, BaseURL: s.TwilioBaseURL, From: s.From}, nil
	case "http":
		if s.HTTPConfigFile == "" {
			return nil, usageError{"--sms-provider http needs --sms-http-config FILE"}
		}
		hc, err := smsout.LoadHTTPConfig(s.HTTPConfigFile)
		if err != nil {
			return nil, err
		}
		if s.From != "" && hc.From == "" {
			hc.From = s.From
		}
		getenv := s.getenv
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		sender, err := smsout.NewHTTPSender(hc, getenv, nil)
		if err != nil {
			return nil, fmt.Errorf("--sms-http-config %s: %w", s.HTTPConfigFile, err)
		}
		return sender, nil
	}
	return nil, usageError{fmt.Sprintf("--sms-provider must be twilio or http, not %q", s.Provider)}
}
