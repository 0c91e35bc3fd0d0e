package client

import (
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/consentd/consentd/internal/api"
)

// TestEveryOperationHasAMethod walks the server's route table: an operation
// without a client method (a new route), an operation the server no longer
// has, a method named that does not exist, or a method that no operation
// names fails.
func TestEveryOperationHasAMethod(t *testing.T) {
	s := api.New(nil, nil, slog.New(slog.DiscardHandler)) // the routes only: no store is used
	typ := reflect.TypeFor[*Client]()
	named := map[string]bool{}
	server := map[string]bool{}
	for _, op := range s.Operations() {
		key := op.Method + " " + op.Path
		if _, ok := operations[key]; !ok && !strings.HasPrefix(op.Path, "/v1/") {
			continue // the error codes' documentation pages, not an API call
		}
		server[key] = true
		methods, ok := operations[key]
		if !ok || len(methods) == 0 {
			t.Errorf("%s has no client method: add one to package client and to its operations table", key)
			continue
		}
		for _, m := range methods {
			if _, ok := typ.MethodByName(m); !ok {
				t.Errorf("%s: the operations table names (*Client).%s, which does not exist", key, m)
			}
			named[m] = true
		}
	}
	var stale []string
	for key := range operations {
		if !server[key] {
			stale = append(stale, key)
		}
	}
	sort.Strings(stale)
	for _, key := range stale {
		t.Errorf("the operations table names %s, which the server does not have", key)
	}
	// Every exported method calls an operation, except these.
	helpers := map[string]bool{"BaseURL": true}
	for i := range typ.NumMethod() {
		m := typ.Method(i).Name
		if !named[m] && !helpers[m] {
			t.Errorf("(*Client).%s is not in the operations table", m)
		}
	}
}
