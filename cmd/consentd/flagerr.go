package main

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// parseFlags is fs.Parse with the flag package's own error output turned
// off: it prints a Go-worded line ("parse error") and every flag of the
// command. The error returned instead says what the value must be, or
// which flag was meant, and help (-h) still prints the flags.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case err == nil:
		return nil
	case err == flag.ErrHelp:
		fs.Usage()
		return err
	}
	return usageError{flagMessage(fs, err.Error()) + fmt.Sprintf(" (consentd %s -h lists its flags)", fs.Name())}
}

var (
	badValueRE = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-(\S+): (.*)$`)
	unknownRE  = regexp.MustCompile(`^flag provided but not defined: -(\S+)$`)
	needsArgRE = regexp.MustCompile(`^flag needs an argument: -(\S+)$`)
)

// flagMessage rewords the flag package's error msg for fs.
func flagMessage(fs *flag.FlagSet, msg string) string {
	if m := badValueRE.FindStringSubmatch(msg); m != nil {
		value, name, reason := m[1], m[2], m[3]
		want := ""
		if f := fs.Lookup(name); f != nil {
			if g, ok := f.Value.(flag.Getter); ok {
				want = flagKind(g.Get())
			}
		}
		switch {
		case reason == "value out of range" && want != "":
			return fmt.Sprintf("--%s %q is out of range: it must be %s", name, value, want)
		case (reason == "parse error" || strings.Contains(reason, "strconv.")) && want != "":
			return fmt.Sprintf("--%s %q: it must be %s", name, value, want)
		}
		return fmt.Sprintf("--%s %q: %s", name, value, reason)
	}
	if m := unknownRE.FindStringSubmatch(msg); m != nil {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		best, bestD := "", 1<<30
		for _, n := range names {
			if d := editDistance(m[1], n); d < bestD && d <= max(1, min(3, len(n)/3)) {
				best, bestD = n, d
			}
		}
		if best != "" {
			return fmt.Sprintf("unknown flag --%s; did you mean --%s?", m[1], best)
		}
		return fmt.Sprintf("unknown flag --%s", m[1])
	}
	if m := needsArgRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s needs a value", m[1])
	}
	return msg
}

// flagKind names what a flag whose value is v takes.
func flagKind(v any) string {
	switch v.(type) {
	case int, int64, uint, uint64:
		return "a whole number"
	case float64:
		return "a number"
	case bool:
		return "true or false"
	case time.Duration:
		return "a duration such as 30s, 5m or 1h"
	}
	return ""
}
