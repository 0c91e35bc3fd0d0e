package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"

	"github.com/consentd/consentd"
)

// TestEveryOperationIsDescribed: /openapi.json gives every operation a
// summary and a description, which generated clients and documentation
// tools show.
func TestEveryOperationIsDescribed(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Summary     string `json:"summary"`
			Description string `json:"description"`
		} `json:"paths"`
	}
	e.must("GET", "/openapi.json", "", nil, 200).decode(t, &doc)
	n := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			n++
			if strings.TrimSpace(op.Summary) == "" {
				t.Errorf("%s %s (%s) has no summary", strings.ToUpper(method), path, op.OperationID)
			}
			if len(strings.TrimSpace(op.Description)) < 20 {
				t.Errorf("%s %s (%s) has no description (descriptions.go)", strings.ToUpper(method), path, op.OperationID)
			}
		}
	}
	if n != len(e.api.Operations()) {
		t.Errorf("/openapi.json has %d operations; the server %d", n, len(e.api.Operations()))
	}
}

// errorCodes returns the error codes the root package declares in
// error.go: the string constants whose names start with E.
func errorCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../error.go", nil, 0)
	if err != nil {
		t.Fatalf("parse the root package's error.go: %v", err)
	}
	var codes []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "E") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				codes = append(codes, v)
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d error codes in error.go: %v", len(codes), codes)
	}
	return codes
}

// TestEveryErrorCodeHasAPage: the `type` of a problem is /problems/<code>,
// and every code of error.go has a page there that explains it, public
// and in HTML. (The env's transport also resolves the type of every
// problem the tests see.)
func TestEveryErrorCodeHasAPage(t *testing.T) {
	e := newEnv(t)
	for _, code := range errorCodes(t) {
		r := e.do("GET", "/problems/"+code, "", nil)
		if r.status != 200 {
			t.Errorf("GET /problems/%s = %s; want 200: add the code to problemDocs (problems.go)", code, r)
			continue
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET /problems/%s: Content-Type %q, want text/html", code, ct)
		}
		for _, want := range []string{"<code>" + code + "</code>", "What it means", "When it happens", "What to do"} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("GET /problems/%s lacks %q:\n%s", code, want, r.body)
			}
		}
	}
	if r := e.do("GET", "/problems/no_such_code", "", nil); r.status != 404 || r.problem(t).Code != consentd.ENOTFOUND {
		t.Errorf("GET /problems/no_such_code = %s; want 404 not_found", r)
	}
	// A problem's type names its page.
	r := e.do("GET", "/v1/purposes/nope", e.a.key(consentd.RoleRead), nil)
	if p := r.problem(t); p.Type != "/problems/not_found" {
		t.Errorf("GET /v1/purposes/nope: type %q, want /problems/not_found", p.Type)
	}
}
